#!/usr/bin/env bash
# Smoke test of the test cluster, from the host (through the loopback API
# forwarder), in the shape a bottle takes:
#   pod "agent" (and "agent-gvisor" under RuntimeClass gvisor): egress only to
#     the "proxy" pod's port 3128;
#   pod "proxy": egress to 0.0.0.0/0 except the cluster's own ranges, ingress
#     only from the agents on 3128;
#   pod "other": an unrelated server on 8080.
# Checks each path before the policies (so every refusal has a positive
# control) and after; then the proxy reaching the lab by name via the lab DNS;
# then files in and out through `kubectl exec -i ... tar`.
# Needs the cluster up (scripts/setup/k8s.sh); starts the lab if it is not up.
# Exit status: the number of failed checks.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
set -a
. "$K8S_DIR/env"
set +a
# A namespace of this run's own: nothing of an earlier run is in it.
ns=cb-smoke-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
k() { "$BIN/kubectl" -n "$ns" "$@"; }
say() { printf '[%5.1fs] %s\n' "$(elapsed)" "$*"; }
failures=0
expect() { # ok|fail description pod tool-args...
  local want=$1 what=$2 pod=$3 out rc
  shift 3
  out=$(k exec "$pod" -- /cb-k8s-tool "$@" 2>&1)
  rc=$?
  if { [ "$want" = ok ] && [ $rc = 0 ]; } || { [ "$want" = fail ] && [ $rc != 0 ]; }; then
    printf '  pass  %-4s %-48s %s\n' "$want" "$what" "$(echo "$out" | head -1 | cut -c1-90)"
  else
    printf '  FAIL  %-4s %-48s %s\n' "$want" "$what" "$(echo "$out" | head -1 | cut -c1-90)"
    failures=$((failures + 1))
  fi
}

"$here/lab.sh" status || "$here/lab.sh" start >/dev/null
# Removed on every way out, an interrupted run included (not after kill -9).
trap '"$BIN/kubectl" delete ns "$ns" --wait=false >/dev/null' EXIT
"$BIN/kubectl" create ns "$ns" >/dev/null
pod() { # name labels args [runtimeClass]
  cat <<EOY
---
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {$2}}
spec:
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  ${4:+runtimeClassName: $4}
  containers: [{name: main, image: $TOOL_IMAGE, imagePullPolicy: Never, args: [$3]}]
EOY
}
{
  pod agent "app: agent, role: agent" pause
  pod proxy "app: proxy" "serve, ':3128'"
  pod other "app: other" "serve, ':8080'"
  pod agent-gvisor "app: agent-gvisor, role: agent" pause gvisor
} | k apply -f - >/dev/null
say "pods applied"
k wait --for=condition=Ready pod --all --timeout=120s >/dev/null || { k get pods -o wide; exit 1; }
say "pods Ready"
k get pods -o wide
ip_of() { k get pod "$1" -o jsonpath='{.status.podIP}'; }
P=$(ip_of proxy)
O=$(ip_of other)
api_in=$CLAUDE_BOTTLE_K8S_API_IN_CLUSTER
api_svc=$CLAUDE_BOTTLE_K8S_API_SERVICE
web=$CLAUDE_BOTTLE_K8S_LAB_WEB_IP
meta=$CLAUDE_BOTTLE_K8S_METADATA_IP
gw=$CLAUDE_BOTTLE_K8S_POD_GATEWAY

agent_paths() { # ok|fail pod: every way out but the proxy
  expect "$1" "$2 -> other pod $O:8080" "$2" dial "$O:8080"
  expect "$1" "$2 -> lab web $web:80" "$2" dial "$web:80"
  expect "$1" "$2 -> lab DNS (lookup allowed.test)" "$2" lookup allowed.test
  expect "$1" "$2 -> node (API server) $api_in" "$2" dial "$api_in"
  expect "$1" "$2 -> API Service $api_svc" "$2" dial "$api_svc"
  expect "$1" "$2 -> pod gateway $gw:10250 (kubelet)" "$2" dial "$gw:10250"
  expect "$1" "$2 -> metadata $meta:80" "$2" dial "$meta:80"
}

echo "--- before any policy (positive controls)"
for a in agent agent-gvisor; do
  expect ok "$a -> proxy $P:3128" "$a" get "http://$P:3128/"
  agent_paths ok "$a"
done
expect ok "proxy -> other pod $O:8080" proxy dial "$O:8080"
expect ok "proxy -> node $api_in" proxy dial "$api_in"
expect ok "other -> proxy $P:3128" other dial "$P:3128"

k apply -f - >/dev/null <<EOY
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: agent-only-to-proxy}
spec:
  podSelector: {matchLabels: {role: agent}}
  policyTypes: [Ingress, Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: proxy}}}]
    ports: [{protocol: TCP, port: 3128}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: proxy-out-not-cluster}
spec:
  podSelector: {matchLabels: {app: proxy}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: agent}}}]
    ports: [{protocol: TCP, port: 3128}]
  egress:
  - to:
    - ipBlock:
        cidr: 0.0.0.0/0
        except: [$CLAUDE_BOTTLE_K8S_POD_CIDR, $CLAUDE_BOTTLE_K8S_SERVICE_CIDR, $CLAUDE_BOTTLE_K8S_NODE_CIDR, 169.254.0.0/16]
EOY
say "policies applied"
# wait on the condition: the agent's way to the lab closes
for _ in $(seq 40); do k exec agent -- /cb-k8s-tool dial "$web:80" 1 >/dev/null 2>&1 || break; sleep 0.25; done
say "policies in effect"

echo "--- after the policies"
for a in agent agent-gvisor; do
  expect ok "$a -> proxy $P:3128" "$a" get "http://$P:3128/"
  agent_paths fail "$a"
done
expect ok "proxy -> lab by name http://allowed.test/" proxy get http://allowed.test/
expect ok "proxy -> lab https name (TCP) blocked.test:443" proxy dial blocked.test:443
expect fail "proxy -> other pod $O:8080" proxy dial "$O:8080"
expect fail "proxy -> node $api_in" proxy dial "$api_in"
expect fail "proxy -> API Service $api_svc" proxy dial "$api_svc"
expect fail "proxy -> metadata $meta:80" proxy dial "$meta:80"
expect fail "other -> proxy $P:3128 (ingress)" other dial "$P:3128"
expect ok "other -> lab (no policy selects it)" other dial "$web:80"

echo "--- the lab saw the proxy (not the agents)"
labdir=$K8S_DIR/lab/logs
if grep -q "\"host\":\"allowed.test\"" "$labdir/web.log" && grep -q "\"query\": \"allowed.test\", \"type\": \"A\", \"from\": \"$P\"" "$labdir/dns.log"; then
  echo "  pass  web log has Host allowed.test; DNS log has the proxy's query for allowed.test"
else
  echo "  FAIL  lab logs lack the proxy's request/query"
  failures=$((failures + 1))
fi

echo "--- gVisor"
kernel=$(k exec agent-gvisor -- /cb-k8s-tool cat /proc/version)
if [ -n "$kernel" ] && [ "$kernel" != "$(cat /proc/version)" ]; then
  echo "  pass  agent-gvisor sees gVisor's kernel, not the host's: $kernel"
else
  echo "  FAIL  agent-gvisor's kernel is the host's: $kernel"
  failures=$((failures + 1))
fi

echo "--- exec with stdin: files in and out as tar"
if docker image inspect claude-bottle:latest >/dev/null 2>&1; then
  "$here/import-images.sh" claude-bottle:latest
  k apply -f - >/dev/null <<EOY
apiVersion: v1
kind: Pod
metadata: {name: tar}
spec:
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  containers: [{name: main, image: claude-bottle:latest, imagePullPolicy: Never, command: [sleep, infinity]}]
EOY
  k wait --for=condition=Ready pod/tar --timeout=120s >/dev/null
  src=$(mktemp -d)
  head -c 300000 /dev/urandom >"$src/blob"
  echo hello >"$src/note"
  tar -C "$src" -c blob note | k exec -i tar -- tar -C /tmp -x
  back=$(k exec tar -- tar -C /tmp -c blob note | tar -xO blob | sha256sum)
  if [ "$back" = "$(sha256sum <"$src/blob")" ]; then
    echo "  pass  300 kB in and out through exec -i / exec tar"
  else
    echo "  FAIL  the blob came back different"
    failures=$((failures + 1))
  fi
  rm -rf "$src"
else
  # Nothing is skipped: scripts/test.sh builds the image before this runs.
  echo "  FAIL  no claude-bottle:latest image in Docker (claude-bottle build makes it)"
  failures=$((failures + 1))
fi

say "done, $failures failed"
exit "$failures"
