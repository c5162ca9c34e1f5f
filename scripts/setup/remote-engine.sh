#!/usr/bin/env bash
# A second Docker engine for the remote-engine tests (issue 14): dockerd inside a
# privileged container of the host's engine, with its own file system (its
# storage in a Docker volume, no host path mounted), reached over TCP on a
# network of its own. Whatever claude-bottle wrongly expects to find on the
# CLI's file system (a bind-mounted stage folder, a file the engine wrote) is
# then simply not there, and the test fails.
#
#   bash scripts/setup/remote-engine.sh            # make it (idempotent), print DOCKER_HOST=...
#   bash scripts/setup/remote-engine.sh --stop     # remove container and network, keep the
#                                                  # volume (the images loaded into it) as a cache
#   bash scripts/setup/remote-engine.sh --teardown # remove container, network and volume
#
# The engine listens without TLS: only on a private bridge network of this host,
# for tests. Nothing is pulled: its image is built from the local Debian base,
# and the images the tests need are copied in with docker save | docker load.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=claude-bottle-test/dockerd:3
OLD_IMAGES=(claude-bottle-test/dockerd:2)  # replaced by $IMAGE; removed when found
NAME=claude-bottle-test-dockerd
NETWORK=claude-bottle-test-remote
# The outer network's subnet is pinned outside Docker's default pools. The
# inner engine keeps its networks in its volume (the shared egress network
# stays by design), and it takes them from those pools: had the outer network
# drawn the same /16 on a later run, the inner bridge would hold the outer
# gateway's address and the inner engine would be unreachable ("no route to
# host"). Also outside the bottles' own range (198.18.0.0/15) and the test
# cluster's (10.200/10.201, 10.96/16, 10.244/16).
SUBNET=10.202.0.0/29
VOLUME=claude-bottle-test-dockerd
LABEL=dev.claude-bottle-test.remote-engine=1
# Raised whenever the container's settings below change: a container made with
# other settings is replaced.
SETTINGS=dev.claude-bottle-test.remote-engine.settings=4
PORT=2375
# What the selected tests need in the inner engine. The lab's images are copied
# too where the host has them (the host's sidecar suite builds them), so that
# the inner engine need not build them again; without them it does.
IMAGES=(debian:bookworm-slim claude-bottle:latest claude-bottle-squid:latest)
LAB_IMAGES=(claude-bottle-lab/web:1 claude-bottle-lab/git:1 claude-bottle-lab/attacker:1)

log() { printf 'setup-remote-engine: %s\n' "$*" >&2; }

if [ "${1:-}" = "--stop" ]; then
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  docker network rm "$NETWORK" >/dev/null 2>&1 || true
  log "removed $NAME and its network; its volume $VOLUME stays as a cache"
  exit 0
fi
if [ "${1:-}" = "--teardown" ]; then
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  docker network rm "$NETWORK" >/dev/null 2>&1 || true
  docker volume rm "$VOLUME" >/dev/null 2>&1 || true
  log "removed $NAME, its network and its volume"
  exit 0
fi

# --- image ----------------------------------------------------------------
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "building $IMAGE (Debian's docker.io)"
  # Packages come from the base image's Debian mirror, as in the agent image's build.
  build_log=$(mktemp)
  docker build -q --label "$LABEL" -t "$IMAGE" - >"$build_log" 2>&1 <<'EOF' || { cat "$build_log" >&2; exit 1; }
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io iptables procps \
 && rm -rf /var/lib/apt/lists/*
EXPOSE 2375
# /var/lib/docker is a volume: overlay2 on a volume works, overlay on overlay does not.
VOLUME /var/lib/docker
# The container is not --privileged (see below), so /sys and the cgroup
# hierarchies (its own, under --cgroupns private) arrive read-only: remount them.
# runc writes its temporary files under $TMPDIR: a tmpfs, not /tmp (see below).
ENV TMPDIR=/run/tmp
ENTRYPOINT ["sh", "-c", "mount -o remount,rw /sys && for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw \"$d\"; done && mkdir -p $TMPDIR && exec dockerd --host=tcp://0.0.0.0:2375 --tls=false --host=unix:///var/run/docker.sock --storage-driver=overlay2"]
EOF
  rm -f "$build_log"
fi

# --- network, volume, container ---------------------------------------------
subnet=$(docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$NETWORK" 2>/dev/null || true)
if [ -n "$subnet" ] && [ "$subnet" != "$SUBNET" ]; then
  log "replacing $NETWORK (subnet $subnet, not $SUBNET)"
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  docker network rm "$NETWORK" >/dev/null
  subnet=
fi
[ -n "$subnet" ] || docker network create --label "$LABEL" --subnet "$SUBNET" "$NETWORK" >/dev/null
docker volume inspect "$VOLUME" >/dev/null 2>&1 \
  || docker volume create --label "$LABEL" "$VOLUME" >/dev/null
settings=$(docker inspect --format "{{index .Config.Labels \"${SETTINGS%%=*}\"}}" "$NAME" 2>/dev/null || true)
if docker container inspect "$NAME" >/dev/null 2>&1 && [ "$settings" != "${SETTINGS#*=}" ]; then
  log "replacing $NAME (made with other settings)"
  docker rm -f "$NAME" >/dev/null
fi
state=$(docker inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null || true)
if [ "$state" = false ]; then
  docker start "$NAME" >/dev/null
elif [ -z "$state" ]; then
  log "starting $NAME"
  # dockerd needs to mount, make namespaces, write iptables and cgroups: all
  # capabilities but CAP_SYS_RESOURCE, which this kind of VM does not have to
  # give (so --privileged fails: "unable to apply caps"), no seccomp or
  # AppArmor profile, every device, and a cgroup namespace of its own.
  # No --volume of a host path: the volume below lives in the outer engine.
  # Its root file system is read-only, so that a bind mount of a path that
  # exists only on the CLI's host fails loudly: for a missing source path
  # `--volume` would otherwise make an empty folder there and carry on.
  docker run -d --name "$NAME" --label "$LABEL" --label "$SETTINGS" \
    --read-only --tmpfs /run --tmpfs /etc/docker \
    --cap-add ALL --cap-drop SYS_RESOURCE --cgroupns private --device-cgroup-rule 'a *:* rwm' \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    --network "$NETWORK" --mount "type=volume,source=$VOLUME,target=/var/lib/docker" \
    --restart unless-stopped "$IMAGE" >/dev/null
fi
for old in "${OLD_IMAGES[@]}"; do
  docker image rm "$old" >/dev/null 2>&1 || true
done
address=$(docker inspect --format "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$NAME")
host="tcp://$address:$PORT"
inner() { DOCKER_HOST=$host docker "$@"; }
# A deadline, not a count: an unreachable address costs seconds per try.
deadline=$((SECONDS + 90))
until timeout 5 docker --host "$host" info >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || break
  sleep 0.5
done
timeout 5 docker --host "$host" info >/dev/null 2>&1 || { docker logs --tail 20 "$NAME" >&2; log "the inner dockerd did not come up"; exit 1; }

# --- images ---------------------------------------------------------------
# Copy in what the inner engine lacks, in one stream: images that share layers
# (the lab's are the agent image plus a little) send those layers once.
missing=()
differs() {
  local want have
  want=$(docker image inspect --format '{{.Id}}' "$1" 2>/dev/null) || return 2
  have=$(inner image inspect --format '{{.Id}}' "$1" 2>/dev/null || true)
  [ "$want" != "$have" ]
}
for image in "${IMAGES[@]}"; do
  if differs "$image"; then missing+=("$image"); elif [ $? = 2 ]; then
    log "$image is not in the host's engine (scripts/test.sh builds it)"
    exit 1
  fi
done
for image in "${LAB_IMAGES[@]}"; do
  if differs "$image"; then missing+=("$image"); fi
done
if ((${#missing[@]})); then
  log "loading ${missing[*]}"
  docker save "${missing[@]}" | inner load -q >/dev/null
fi

log "ready: Docker $(inner version --format '{{.Server.Version}}') in $NAME; runtimes: $(inner info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}')"
echo "DOCKER_HOST=$host"
