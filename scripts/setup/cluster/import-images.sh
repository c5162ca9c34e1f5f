#!/usr/bin/env bash
# Copies images from the host's Docker engine into the test cluster (there is no
# registry): docker save | ctr images import, into containerd's k8s.io namespace
# where the kubelet finds them. An image whose Docker ID was already imported
# under that name is skipped. Pods use imagePullPolicy Never or IfNotPresent.
#   import-images.sh IMAGE...      e.g. claude-bottle:latest claude-bottle-squid:latest
set -euo pipefail
. "$(dirname "$0")/common.sh"
(($#)) || { echo "usage: $0 IMAGE..." >&2; exit 2; }
[ -S "$SOCK" ] || { log "the cluster is not up (no $SOCK)"; exit 1; }
ctr_() { "$ROOTFS/usr/bin/ctr" -a "$SOCK" -n k8s.io "$@"; }
label=dev.claude-bottle.docker-id
for image in "$@"; do
  id=$(docker image inspect -f '{{.Id}}' "$image")
  # the name containerd (and the kubelet) use: docker.io/library/NAME:TAG
  ref=$image
  [[ ${ref##*/} == *[:@]* ]] || ref=$ref:latest
  if [[ $ref != */* ]]; then
    ref=docker.io/library/$ref
  elif [[ ${ref%%/*} != *[.:]* && ${ref%%/*} != localhost ]]; then
    ref=docker.io/$ref
  fi
  if ctr_ images ls "name==$ref" 2>/dev/null | grep -q "$label=$id"; then
    log "$image: already imported ($id)"
    continue
  fi
  t0=$SECONDS
  docker save "$image" | ctr_ images import - >/dev/null
  ctr_ images label "$ref" "$label=$id" >/dev/null
  log "$image: imported as $ref in $((SECONDS - t0))s"
done
