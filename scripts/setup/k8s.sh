#!/usr/bin/env bash
# Brings up claude-bottle's single-node Kubernetes test cluster on this machine
# (as root, no terminal needed), or only verifies it when it is already up.
# Idempotent; builds are cached under $CLAUDE_BOTTLE_K8S_DIR (default
# /var/lib/claude-bottle/k8s), so a kept machine is up in seconds.
#
# Kubernetes v1.34.4 built from the k8s.io/kubernetes Go module, Debian's etcd,
# containerd 1.6, runc, runsc and CNI plugins (extracted, not installed),
# kube-proxy (iptables) and kube-router as the NetworkPolicy firewall. Every
# component runs in the network namespace cb-k8s and one private mount
# namespace; the host's network, sysctls, iptables and Docker are not touched.
# The lab "internet" is the namespace cb-k8s-lab (scripts/setup/cluster/lab.sh runs its
# servers). Stop with scripts/setup/k8s-teardown.sh (caches are kept).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cluster/common.sh"
step() { log "$(printf '[%5.1fs] %s' "$(elapsed)" "$*")"; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
# a reader that goes away (| head) must not kill a half-done bring-up
trap '' PIPE
command -v go >/dev/null || { log "needs Go >= 1.24 on PATH (or in /usr/local/go/bin)"; exit 1; }
mkdir -p "$K8S_DIR" "$LOGS"

healthy() { # says why not, on stderr
  local name
  for name in holder etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet \
    kube-proxy kube-router api-forward-in api-forward-host; do
    kill -0 "$(cat "$PIDS/$name.pid" 2>/dev/null || echo x)" 2>/dev/null || { log "$name is not running"; return 1; }
  done
  KUBECONFIG=$K8S_DIR/kubeconfig timeout 10 "$BIN/kubectl" get --raw /readyz >/dev/null 2>&1 ||
    { log "the API server is not ready through 127.0.0.1:$HOST_API_PORT"; return 1; }
  [ "$(KUBECONFIG=$K8S_DIR/kubeconfig timeout 10 "$BIN/kubectl" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ] ||
    { log "node $NODE_NAME is not Ready"; return 1; }
}

if [ -f "$PIDS/holder.pid" ] && healthy; then
  step "already up and healthy"
  cat "$K8S_DIR/env"
  echo "export KUBECONFIG=$K8S_DIR/kubeconfig"
  exit 0
fi
# whatever is left of an earlier cluster (crashed, half up) goes first; cheap when nothing is
"$here/k8s-teardown.sh" 2>/dev/null

# ---- artifacts (each step skipped when its output exists) ----
step "building (cached)"
"$here/cluster/build.sh"
"$here/cluster/fetch-debs.sh"
mkdir -p "$K8S_DIR/images"
tool_tar=$K8S_DIR/images/tool.tar
[ "$tool_tar" -nt "$BIN/cb-k8s-tool" ] ||
  python3 "$here/cluster/mkimage.py" "$BIN/cb-k8s-tool" "$tool_tar" "$PAUSE_IMAGE" "$TOOL_IMAGE"
"$here/cluster/gen-conf.sh"
step "artifacts ready"

# ---- namespaces, cgroups, the holder ----
"$here/cluster/netns.sh"
for c in /sys/fs/cgroup/*/; do
  case $c in */unified/) continue ;; esac
  mkdir -p "$c$CGROUP"
  if [ -f "${c}cpuset.cpus" ]; then
    cat "${c}cpuset.cpus" >"$c$CGROUP/cpuset.cpus"
    cat "${c}cpuset.mems" >"$c$CGROUP/cpuset.mems"
  fi
done
rm -rf "$RUN"
mkdir -p "$PIDS"
# a new session (launch): the cluster outlives this script and its caller's
launch "$SYS_CGROUP" nsenter --net="/run/netns/$NETNS" unshare --mount --propagation private \
  "$here/cluster/ns-init.sh" >"$LOGS/holder.log" 2>&1 </dev/null &
echo $! >"$PIDS/holder.pid"
for _ in $(seq 50); do grep -q ready "$LOGS/holder.log" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$LOGS/holder.log" || { log "holder failed: $(cat "$LOGS/holder.log")"; exit 1; }

start() { # name command...: run in the cluster's namespaces, detached, pid recorded
  local name=$1
  shift
  launch "$SYS_CGROUP" nsenter -t "$(holder_pid)" -n -m -- "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}
wait_for() { # what seconds command...
  local what=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 4; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  log "timed out waiting for $what; logs in $LOGS"
  exit 1
}

# ---- etcd, apiserver, containerd ----
# etcd's data in the namespace's /run tmpfs: no fsync cost on a busy CI disk,
# and nothing of it outlives the cluster
start etcd "$ROOTFS/usr/bin/etcd" --name cb-k8s --data-dir /run/etcd \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster cb-k8s=http://127.0.0.1:2380 --listen-metrics-urls ""
# --kubelet-preferred-address-types InternalIP: the node name resolves nowhere
# in the namespace, so logs/exec would otherwise time out on DNS
start kube-apiserver "$BIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
  --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
  --client-ca-file "$CONF/pki/ca.crt" --tls-cert-file "$CONF/pki/apiserver.crt" \
  --tls-private-key-file "$CONF/pki/apiserver.key" --kubelet-preferred-address-types InternalIP \
  --kubelet-client-certificate "$CONF/pki/admin.crt" --kubelet-client-key "$CONF/pki/admin.key" \
  --kubelet-certificate-authority "$CONF/pki/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$CONF/pki/sa.pub" \
  --service-account-signing-key-file "$CONF/pki/sa.key" --service-cluster-ip-range "$SERVICE_CIDR" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --allow-privileged=true
start containerd env PATH="$ROOTFS/usr/bin:$ROOTFS/usr/sbin:$PATH" "$ROOTFS/usr/bin/containerd" \
  --config "$CONF/containerd.toml"
wait_for "the API server" 60 kc get --raw /readyz
step "apiserver ready"

# ---- the API server from the host: 127.0.0.1:$HOST_API_PORT -> unix socket -> 127.0.0.1:$API_PORT in the netns ----
fwd_sock=$RUN/apiserver.sock
start api-forward-in env LD_LIBRARY_PATH="$ROOT_LIBS" "$ROOTFS/usr/bin/socat" \
  "UNIX-LISTEN:$fwd_sock,fork,mode=600" "TCP:127.0.0.1:$API_PORT"
launch "$SYS_CGROUP" env LD_LIBRARY_PATH="$ROOT_LIBS" "$ROOTFS/usr/bin/socat" \
  "TCP-LISTEN:$HOST_API_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$fwd_sock" \
  >"$LOGS/api-forward-host.log" 2>&1 </dev/null &
echo $! >"$PIDS/api-forward-host.pid"

# ---- controllers ----
start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$CONF/admin.kubeconfig" \
  --leader-elect=false --bind-address 127.0.0.1 --service-account-private-key-file "$CONF/pki/sa.key" \
  --root-ca-file "$CONF/pki/ca.crt" --cluster-signing-cert-file "$CONF/pki/ca.crt" \
  --cluster-signing-key-file "$CONF/pki/ca.key" \
  --allocate-node-cidrs=true --cluster-cidr "$POD_CIDR" --node-cidr-mask-size 24 \
  --service-cluster-ip-range "$SERVICE_CIDR"
start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$CONF/admin.kubeconfig" --leader-elect=false \
  --bind-address 127.0.0.1

# ---- the sandbox image, then kubelet ----
wait_for "containerd" 30 test -S "$SOCK"
# images persist in containerd's root across teardowns; containers do not
ctr_() { "$ROOTFS/usr/bin/ctr" -a "$SOCK" -n k8s.io "$@"; }
for c in $(ctr_ containers ls -q); do ctr_ containers rm "$c" >/dev/null 2>&1 || true; done
ctr_ images import "$tool_tar" >"$LOGS/ctr-import.log" 2>&1
step "sandbox image imported"
start kubelet "$BIN/kubelet" --config "$CONF/kubelet.yaml" --kubeconfig "$CONF/kubelet.kubeconfig" \
  --root-dir "$RUN/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v 1
node_podcidr() { [ -n "$(kc get node "$NODE_NAME" -o jsonpath='{.spec.podCIDR}' 2>/dev/null)" ]; }
wait_for "the node's pod CIDR" 60 node_podcidr
step "node registered"

# ---- Services and NetworkPolicy ----
start kube-proxy "$BIN/kube-proxy" --config "$CONF/kube-proxy.yaml"
# kube-router runs ipset from the extracted Debian tree
start kube-router env PATH="$PATH" LD_LIBRARY_PATH="$ROOT_LIBS" "$BIN/kube-router" \
  --kubeconfig "$CONF/admin.kubeconfig" --hostname-override "$NODE_NAME" \
  --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
  --service-cluster-ip-range "$SERVICE_CIDR" --metrics-port 0 -v 1

kc wait --for=condition=Ready "node/$NODE_NAME" --timeout 120s >/dev/null
step "node Ready"

# ---- cluster objects: the gVisor RuntimeClass ----
kc apply -f - >/dev/null <<EOY
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor}
handler: runsc
EOY

cat >"$K8S_DIR/env" <<ENV
# claude-bottle's Kubernetes test cluster (scripts/setup/k8s.sh): plain KEY=VALUE lines,
# no quoting needed; in a shell: set -a; . $K8S_DIR/env; set +a
KUBECONFIG=$K8S_DIR/kubeconfig
CLAUDE_BOTTLE_K8S_DIR=$K8S_DIR
CLAUDE_BOTTLE_K8S_API_SERVER=https://127.0.0.1:$HOST_API_PORT
CLAUDE_BOTTLE_K8S_API_IN_CLUSTER=$NODE_IP:$API_PORT
CLAUDE_BOTTLE_K8S_API_SERVICE=$API_SERVICE_IP:443
CLAUDE_BOTTLE_K8S_NODE_NAME=$NODE_NAME
CLAUDE_BOTTLE_K8S_NODE_IP=$NODE_IP
CLAUDE_BOTTLE_K8S_NODE_CIDR=$NODE_CIDR
CLAUDE_BOTTLE_K8S_POD_CIDR=$POD_CIDR
CLAUDE_BOTTLE_K8S_POD_GATEWAY=${NODE_POD_CIDR%.0/24}.1
CLAUDE_BOTTLE_K8S_SERVICE_CIDR=$SERVICE_CIDR
CLAUDE_BOTTLE_K8S_LAB_CIDR=$LAB_CIDR
CLAUDE_BOTTLE_K8S_LAB_WEB_IP=$LAB_WEB_IP
CLAUDE_BOTTLE_K8S_LAB_DNS_IP=$LAB_DNS_IP
CLAUDE_BOTTLE_K8S_METADATA_IP=$METADATA_IP
CLAUDE_BOTTLE_K8S_METADATA_IPS=$METADATA_IPS
CLAUDE_BOTTLE_K8S_LAB_PRIVATE_IP=$LAB_PRIVATE_IP
CLAUDE_BOTTLE_K8S_LAB_NETNS=$LAB_NETNS
CLAUDE_BOTTLE_K8S_NETNS=$NETNS
CLAUDE_BOTTLE_K8S_RUNTIME_CLASS_GVISOR=gvisor
ENV
step "up"
cat "$K8S_DIR/env"
echo "export KUBECONFIG=$K8S_DIR/kubeconfig"
