#!/usr/bin/env bash
# Bring a fresh Debian 12 machine (as root) to the point where claude-bottle's
# engine tests can run: a Docker engine with gVisor registered and a local
# Debian base image. Idempotent, and quick when already done.
#
# No container registry is reachable where this runs, so nothing is pulled: the
# base image comes from debootstrap under the name a Dockerfile would pull, so
# the product's Dockerfile needs no test-only variant.
set -euo pipefail
cd "$(dirname "$0")/../.."

state=/var/lib/claude-bottle-test
mkdir -p "$state"

log() { printf 'setup-engine: %s\n' "$*" >&2; }

# --- packages -------------------------------------------------------------
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v runsc >/dev/null || need+=(runsc)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v tmux >/dev/null || need+=(tmux)
command -v iptables >/dev/null || need+=(iptables)
command -v git >/dev/null || need+=(git)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# --- engine ---------------------------------------------------------------
# gVisor in this nested VM refuses to start with its own network stack in the
# root namespace; with --network=host it uses the container's namespace stack.
daemon_json=/etc/docker/daemon.json
want_json='{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=host"]}}}'
mkdir -p /etc/docker
reload=0
if [ "$(cat "$daemon_json" 2>/dev/null)" != "$want_json" ]; then
  printf '%s' "$want_json" >"$daemon_json"
  reload=1
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  (setsid dockerd >/var/log/dockerd.log 2>&1 &)
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -20 /var/log/dockerd.log >&2; log "dockerd did not come up"; exit 1; }
elif ((reload)); then
  pkill -HUP -x dockerd
  sleep 1
fi
docker info --format '{{json .Runtimes}}' | grep -q runsc || { log "runsc is not registered"; exit 1; }

# --- base image -----------------------------------------------------------
if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  mirror=$(grep -h -m1 -oE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
  [ -n "$mirror" ] || mirror=$(grep -h -m1 -oE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}')
  [ -n "$mirror" ] || { log "no Debian mirror found in /etc/apt"; exit 1; }
  root=$(mktemp -d)
  log "debootstrap bookworm (minbase)"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$state/debootstrap.log" 2>&1 \
    || { tail -20 "$state/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import - debian:bookworm-slim >/dev/null
  rm -rf "$root"
fi

log "engine ready: $(docker version --format '{{.Server.Version}}'), runtimes: runc runsc; base image: debian:bookworm-slim"
