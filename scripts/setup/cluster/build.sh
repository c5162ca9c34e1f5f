#!/usr/bin/env bash
# Builds the cluster's Go binaries into $K8S_DIR/bin, each only when missing:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl
# (k8s.io/kubernetes used as a library, its staging modules pinned) and kube-router.
# Caches (GOCACHE, GOMODCACHE) stay under $K8S_DIR, so a kept machine relinks in seconds.
set -euo pipefail
. "$(dirname "$0")/common.sh"
mkdir -p "$BIN" "$LOGS"
kbuild=$K8S_DIR/kbuild

# kube-proxy (iptables mode) gives ClusterIP Services, so a policy test against the API server's
# Service address means something
k8s_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy)

build_kubernetes() {
  local c missing=()
  for c in "${k8s_cmds[@]}"; do [ -x "$BIN/$c" ] || missing+=("$c"); done
  ((${#missing[@]})) || return 0
  mkdir -p "$kbuild"
  if [ ! -f "$kbuild/go.mod" ]; then
    go mod download "k8s.io/kubernetes@$K8S_VERSION"
    # kubernetes' go.mod replaces its staging modules with ./staging paths, which a
    # dependent module cannot use; pin each to the matching published version instead.
    local mod=$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod
    {
      printf 'module claude-bottle.local/kbuild\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
      grep -E '^\s*k8s.io/.* => ./staging' "$mod" | grep -v sample- |
        awk -v v="$K8S_STAGING_VERSION" '{print "\t" $1 " => " $1 " " v}'
      echo ')'
    } >"$kbuild/go.mod.new"
    mv "$kbuild/go.mod.new" "$kbuild/go.mod"
  fi
  local tools
  tools=$(
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in "${k8s_cmds[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    echo ')'
  )
  # a new command may need modules go.sum lacks: tidy whenever the list changes
  if [ ! -f "$kbuild/go.sum" ] || [ "$(cat "$kbuild/tools.go" 2>/dev/null)" != "$tools" ]; then
    printf '%s\n' "$tools" >"$kbuild/tools.go"
    (cd "$kbuild" && go mod tidy)
  fi
  local ld="-s -w" p minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ld="$ld -X $p.buildDate=2026-01-01T00:00:00Z"
  done
  local pkgs=()
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$kbuild" && nice -n 19 go build -trimpath -ldflags "$ld" -o "$BIN/" "${pkgs[@]}")
}

build_kube_router() {
  [ -x "$BIN/kube-router" ] && return 0
  GOBIN=$BIN nice -n 19 go install -trimpath -ldflags "-s -w" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
}

build_tool() {
  [ -x "$BIN/cb-k8s-tool" ] && return 0
  (cd "$(dirname "$0")/tool" && go build -trimpath -ldflags "-s -w" -o "$BIN/cb-k8s-tool" .)
}

# the two big builds overlap: each is mostly single-package-bound at times, and
# the machine has two cores
build_kube_router >"$LOGS/build-kube-router.log" 2>&1 &
router=$!
build_kubernetes
wait "$router" || { log "kube-router build failed, see $LOGS/build-kube-router.log"; exit 1; }
build_tool
