#!/usr/bin/env bash
# Stops claude-bottle's Kubernetes test cluster and its lab: kills every process
# in the cluster's cgroups, deletes its two network namespaces and cgroups and
# removes its runtime state ($CLAUDE_BOTTLE_K8S_DIR/run; the cluster's objects
# go with it). Builds, downloads and caches are kept. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cluster/common.sh"
[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
"$here/cluster/lab.sh" stop
# pods first, so nothing they run outlives the shims that watch them
kill_cgroup "$CGROUP" || true
kill_cgroup "$SYS_CGROUP"
# the v1 hierarchies kubelet's cgroupRoot was made in
for c in /sys/fs/cgroup/*/"$CGROUP"; do
  [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
done
left=$(ls -d /sys/fs/cgroup/*/"$CGROUP" 2>/dev/null || true)
[ -z "$left" ] || log "cgroups left: $left"
for ns in "$NETNS" "$LAB_NETNS"; do
  [ -e "/run/netns/$ns" ] && ip netns del "$ns"
done
rm -rf "$RUN"
log "down (caches kept in $K8S_DIR)"
