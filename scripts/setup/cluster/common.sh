# Shared facts for the test cluster's scripts (sourced, not run).
# Everything the cluster keeps lives under $K8S_DIR; nothing of it is installed into the host.
K8S_DIR=${CLAUDE_BOTTLE_K8S_DIR:-/var/lib/claude-bottle/k8s}
K8S_VERSION=v1.34.4          # 1.35+ refuses cgroup v1 and drops containerd 1.x; this host has both
K8S_STAGING_VERSION=v0.34.4
KUBE_ROUTER_VERSION=v2.1.0   # the only kube-router the module proxy serves
# Debian packages used from an extracted tree, never installed: the cluster's containerd, runc and
# runsc are its own copies, whatever the host has (dockerd's containerd is not touched)
DEBS=(containerd runc runsc containernetworking-plugins etcd-server etcd-client ipset libipset13 conntrack socat libwrap0)

# CLAUDE_BOTTLE_K8S_NAME (with its own _DIR and _API_PORT) runs a second
# cluster beside the first, e.g. to test these scripts while tests use the first
NAME=${CLAUDE_BOTTLE_K8S_NAME:-cb-k8s}
NETNS=$NAME            # cluster: node address, pod bridge, every component
LAB_NETNS=$NAME-lab    # the lab "internet" the pods reach through the node
CGROUP=claude-bottle-${NAME#cb-}
NODE_NAME=cb-node
NODE_IP=10.200.0.1
NODE_CIDR=10.200.0.0/24
POD_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
# The lab stands in for the internet, so it has a public address: one from
# 203.0.113.0/24 (TEST-NET-3, RFC 5737: documentation only, never a real host),
# outside the pod, service and node ranges and every private range, as a real
# destination of a sidecar would be.
LAB_CIDR=203.0.113.0/24
LAB_GW_IP=203.0.113.1    # node side of the lab link
LAB_WEB_IP=203.0.113.2   # lab web server + lab DNS (one address, like one "internet" host)
LAB_DNS_IP=203.0.113.2
# The same servers also answer at a private address outside the cluster's ranges
# (a host of the user's own network: reached by a sidecar only as an
# egress.internal host's address) and at the cloud metadata addresses (so that a
# reachable "metadata server" exists for the walls to stand in front of).
LAB_PRIVATE_IP=10.201.0.2
API_PORT=6443
HOST_API_PORT=${CLAUDE_BOTTLE_K8S_API_PORT:-16443}  # loopback on the host, forwarded into the cluster netns

BIN=$K8S_DIR/bin
ROOTFS=$K8S_DIR/root      # extracted Debian debs
CONF=$K8S_DIR/conf
RUN=$K8S_DIR/run          # runtime state, removed by teardown
LOGS=$K8S_DIR/logs
PIDS=$K8S_DIR/run/pids
SOCK=$RUN/containerd/containerd.sock

export GOPATH=$K8S_DIR/go GOMODCACHE=$K8S_DIR/go/pkg/mod GOCACHE=$K8S_DIR/gocache
export GOFLAGS=-modcacherw GOTOOLCHAIN=local CGO_ENABLED=0
export PATH=$BIN:$ROOTFS/usr/bin:$ROOTFS/usr/sbin:$PATH:/usr/local/go/bin
# only for the extracted binaries that need the extracted libraries (ipset, socat); not exported
ROOT_LIBS=$ROOTFS/usr/lib/x86_64-linux-gnu

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2 || true; }
t0_us=${EPOCHREALTIME/./}
# seconds since the script began, one decimal
elapsed() {
  local ds=$(((${EPOCHREALTIME/./} - t0_us) / 100000))
  printf '%d.%d' $((ds / 10)) $((ds % 10))
}
holder_pid() { cat "$PIDS/holder.pid" 2>/dev/null; }
# run a command inside the cluster's network + mount namespaces
in_cluster() { nsenter -t "$(holder_pid)" -n -m -- "$@"; }
kc() { in_cluster "$BIN/kubectl" --kubeconfig "$CONF/admin.kubeconfig" "$@"; }
NODE_POD_CIDR=10.244.0.0/24  # the controller-manager gives the one node the first /24
PAUSE_IMAGE=claude-bottle-k8s/pause:1
TOOL_IMAGE=claude-bottle-k8s/tool:1
METADATA_IP=169.254.169.254  # also an address of the lab, so a reachable "metadata server" exists
METADATA_IPS="169.254.169.254 169.254.170.2 100.100.100.200 168.63.129.16"  # AWS/GCP/Azure, ECS, Alibaba, Azure WireServer
# --network=host: runsc 2022-12 decides "root network namespace" by whether
# /proc/sys/net/core/rmem_default exists, and kernel 6.x has it in every netns,
# so its own network stack refuses every pod. With host networking the sandbox
# uses the kernel's stack in the pod's netns, so the CNI veth and the policies
# on it apply as for runc.
RUNSC_FLAGS=${CLAUDE_BOTTLE_K8S_RUNSC_FLAGS:---network=host}
# Every process the cluster starts lives in a freezer cgroup of ours: the
# components and shims in $SYS_CGROUP, the pods under $CGROUP (kubelet's
# cgroupRoot), the lab's servers in $LAB_CGROUP. Teardown kills exactly the
# members of these, and nothing found by name.
FREEZER=/sys/fs/cgroup/freezer
SYS_CGROUP=$CGROUP-sys
LAB_CGROUP=$CGROUP-lab
# launch CGROUP COMMAND... &: COMMAND in that freezer cgroup, in a new session,
# as the background job itself (so $! is its pid). Only ever run it with &.
launch() {
  local cg=$FREEZER/$1
  shift
  mkdir -p "$cg"
  exec setsid sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}
# kill_cgroup CGROUP: freeze it (so nothing forks meanwhile), SIGKILL every
# member of it and its children, thaw, wait until empty, remove it
kill_cgroup() {
  local cg=$FREEZER/$1 d p i
  [ -d "$cg" ] || return 0
  echo FROZEN >"$cg/freezer.state" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do [ "$(cat "$cg/freezer.state")" = FROZEN ] && break; sleep 0.05; done
  for d in $(find "$cg" -depth -type d); do
    for p in $(cat "$d/cgroup.procs"); do kill -9 "$p" 2>/dev/null || true; done
  done
  echo THAWED >"$cg/freezer.state" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    [ -z "$(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && break
    sleep 0.1
  done
  find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  if [ -d "$cg" ]; then log "cgroup $cg still holds processes"; return 1; fi
}
