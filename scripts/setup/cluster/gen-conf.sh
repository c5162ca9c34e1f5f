#!/usr/bin/env bash
# Writes the cluster's PKI (once) and its config files (every time, so a changed
# script takes effect) under $K8S_DIR/conf.
set -euo pipefail
. "$(dirname "$0")/common.sh"
mkdir -p "$CONF/pki" "$CONF/net.d"
# put FILE: stdin to FILE, replaced in one step and only when it changed
# (containerd watches net.d and reads a half-written file as broken)
put() {
  cat >"$1.new"
  if cmp -s "$1.new" "$1"; then rm -f "$1.new"; else mv "$1.new" "$1"; fi
}

# --- PKI: a CA, the apiserver's serving cert, admin/node/proxy client certs, SA keys ---
pki=$CONF/pki
api_sans="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
api_sans="$api_sans,DNS:localhost,IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$NODE_IP"
cert() { # name subject [sans]
  local name=$1 subject=$2 sans=${3:-}
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr"
  if [ -n "$sans" ]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans" >"$pki/$name.ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$pki/$name.ext"
  fi
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 365 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
}
if [ ! -f "$pki/sa.pub" ]; then
  openssl genrsa -out "$pki/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=claude-bottle-k8s-ca" -days 365 -out "$pki/ca.crt"
  cert apiserver "/CN=kube-apiserver" "$api_sans"
  cert admin "/O=system:masters/CN=claude-bottle-k8s-admin"
  cert node "/O=system:nodes/CN=system:node:$NODE_NAME"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
fi
# kubelet's serving cert, signed by the CA, so the apiserver verifies the
# kubelet it sends exec and logs to
[ -f "$pki/kubelet-serving.crt" ] || cert kubelet-serving "/CN=$NODE_NAME" "DNS:$NODE_NAME,IP:$NODE_IP"

kubeconfig() { # file server cert
  put "$1" <<EOK
apiVersion: v1
kind: Config
clusters: [{name: claude-bottle-k8s, cluster: {server: "$2", certificate-authority: $pki/ca.crt}}]
users: [{name: $3, user: {client-certificate: $pki/$3.crt, client-key: $pki/$3.key}}]
contexts: [{name: claude-bottle-k8s, context: {cluster: claude-bottle-k8s, user: $3, namespace: default}}]
current-context: claude-bottle-k8s
EOK
}
# inside the cluster's netns
kubeconfig "$CONF/admin.kubeconfig" "https://127.0.0.1:$API_PORT" admin
kubeconfig "$CONF/kubelet.kubeconfig" "https://127.0.0.1:$API_PORT" node
# from the host's netns, through the loopback forwarder
kubeconfig "$K8S_DIR/kubeconfig" "https://127.0.0.1:$HOST_API_PORT" admin

# --- containerd: a second instance with its own socket, root and state ---
put "$CONF/containerd.toml" <<EOF2
version = 2
# root (images, snapshots) survives teardown: a 1.4 GB image is imported once
root = "$K8S_DIR/containerd"
state = "$RUN/containerd/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$RUN/containerd/debug.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # this VM drops CAP_SYS_RESOURCE from every bounding set, so the -998 a
  # sandbox asks for is refused and runc fails; clamp to containerd's own score
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$ROOTFS/usr/lib/cni"
    conf_dir = "$CONF/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$ROOTFS/usr/sbin/runc"
    # gVisor without containerd-shim-runsc-v1 (Debian does not ship it): the runc
    # shim drives runsc through its runc-compatible command line
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc.options]
        SystemdCgroup = false
        BinaryName = "$BIN/runsc"
        Root = "/run/containerd/runsc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$RUN/containerd/opt"
EOF2

# the runsc the runc shim calls: Debian's runsc with the flags this VM needs,
# bridged to the runc shim (see runsc-wrapper.sh)
sed -e "s|@RUNSC@|$ROOTFS/usr/bin/runsc|" -e "s|@FLAGS@|$RUNSC_FLAGS|" "$(dirname "$0")/runsc-wrapper.sh" |
  put "$BIN/runsc"
chmod +x "$BIN/runsc"

# --- CNI: one bridge, no masquerade (the lab sees pod addresses) ---
put "$CONF/net.d/10-claude-bottle.conflist" <<EOF2
{
  "cniVersion": "0.4.0",
  "name": "claude-bottle-k8s",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$NODE_POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$RUN/cni-ipam"}},
    {"type": "loopback"}
  ]
}
EOF2

# the node's own resolver: nothing answers, so no query leaves the namespace
echo "nameserver 127.0.0.53" >"$CONF/resolv.conf"

put "$CONF/kubelet.yaml" <<EOF2
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP
failSwapOn: false
failCgroupV1: false   # 1.34 still runs on cgroup v1 when told to; this host is v1 hybrid
containerRuntimeEndpoint: unix://$SOCK
podLogsDirectory: $RUN/kubelet-pod-logs
resolvConf: $CONF/resolv.conf
# pods with the default dnsPolicy ask the lab's DNS (there is no CoreDNS)
clusterDNS: [$LAB_DNS_IP]
clusterDomain: cluster.local
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
readOnlyPort: 0
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
healthzBindAddress: 127.0.0.1
enforceNodeAllocatable: []
# a shared CI disk must not taint the node; imported images must never be
# collected (nothing can pull them back)
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
maxPods: 110
EOF2

put "$CONF/kube-proxy.yaml" <<EOF2
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $CONF/admin.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# conntrack limits are host-wide sysctls: leave them alone
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF2
