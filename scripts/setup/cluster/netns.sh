#!/usr/bin/env bash
# Creates the cluster's and the lab's network namespaces and the links between
# them (idempotent). Nothing is added to the host's namespace:
#   cb-k8s:      lo; node0 (NODE_IP) on a veth whose peer is also inside (this
#                kernel has no dummy interfaces); lab0 (LAB_GW_IP); cni0 later
#                from the CNI plugin; default route into the lab
#   cb-k8s-lab:  lab1 (LAB_WEB_IP, LAB_PRIVATE_IP and the metadata addresses); routes back to the
#                node and pod ranges only, so the lab reaches nothing else
set -euo pipefail
. "$(dirname "$0")/common.sh"
in_ns() { ip netns exec "$NETNS" "$@"; }
in_lab() { ip netns exec "$LAB_NETNS" "$@"; }
[ -e "/run/netns/$NETNS" ] || ip netns add "$NETNS"
[ -e "/run/netns/$LAB_NETNS" ] || ip netns add "$LAB_NETNS"
in_ns ip link set lo up
in_lab ip link set lo up
if ! in_ns ip link show node0 >/dev/null 2>&1; then
  in_ns ip link add node0 type veth peer name node0p
  in_ns ip addr add "$NODE_IP/24" dev node0
  in_ns ip link set node0p up
  in_ns ip link set node0 up
fi
if ! in_ns ip link show lab0 >/dev/null 2>&1; then
  in_ns ip link add lab0 type veth peer name lab1 netns "$LAB_NETNS"
  in_ns ip addr add "$LAB_GW_IP/24" dev lab0
  in_ns ip link set lab0 up
  in_lab ip addr add "$LAB_WEB_IP/24" dev lab1
  for a in $METADATA_IPS $LAB_PRIVATE_IP; do in_lab ip addr add "$a/32" dev lab1; done
  in_lab ip link set lab1 up
fi
in_ns ip route replace default via "$LAB_WEB_IP" dev lab0
in_lab ip route replace "$POD_CIDR" via "$LAB_GW_IP" dev lab1
in_lab ip route replace "$NODE_CIDR" via "$LAB_GW_IP" dev lab1
# these sysctls are the namespaces' own, not the host's
in_ns sysctl -qw net.ipv4.ip_forward=1
in_lab sysctl -qw net.ipv4.ip_forward=0
