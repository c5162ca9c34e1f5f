#!/usr/bin/env bash
# Downloads the Debian packages the cluster uses and extracts them under $K8S_DIR/root.
# Nothing is installed into the host. Runs `apt-get update` only when the package
# lists do not know a package (a fresh machine).
set -euo pipefail
. "$(dirname "$0")/common.sh"
stamp=$ROOTFS/.debs
[ "$(cat "$stamp" 2>/dev/null)" = "${DEBS[*]}" ] && exit 0
mkdir -p "$K8S_DIR/debs" "$ROOTFS"
cd "$K8S_DIR/debs"
if ! apt-get download "${DEBS[@]}" >"$LOGS/apt-download.log" 2>&1; then
  log "package lists lack something; running apt-get update"
  apt-get update -q >"$LOGS/apt-update.log" 2>&1
  apt-get download "${DEBS[@]}" >"$LOGS/apt-download.log" 2>&1
fi
for d in *.deb; do dpkg-deb -x "$d" "$ROOTFS"; done
echo "${DEBS[*]}" >"$stamp"
