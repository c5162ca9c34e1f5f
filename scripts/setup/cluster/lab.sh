#!/usr/bin/env bash
# The Kubernetes lab's servers, in the lab namespace (cb-k8s-lab) that
# setup-k8s.sh made. Tests own their lab: a session fixture runs `start` and
# `stop`, and reads the logs.
#   lab.sh start [LOG_DIR]   start (or restart) the lab; logs default to $K8S_DIR/lab/logs
#   lab.sh stop              stop it
#   lab.sh status            exit 0 when both servers answer, started from the current lab files
# Servers, all on LAB_WEB_IP (one "internet" host; the metadata address too):
#   web: tests/sidecar/lab/server.js, answering as every lab name on 80/443
#        (certificate $K8S_DIR/lab/cert.pem, for the names in LAB_NAMES),
#        8080/8443, raw TCP 9000, UDP 5353; one JSON line per request in web.log;
#        POST /v1/messages is a fake Messages API (the real `claude -p` gets an answer);
#        git.lab.test serves git over HTTPS to a client with the token in $K8S_DIR/lab/git-token
#   dns: lab-dns.py on 53/udp: *.test -> LAB_WEB_IP (but the names below), the rest NXDOMAIN; one JSON
#        line per query in dns.log. It is every pod's clusterDNS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
repo=$(cd "$here/../../.." && pwd)
lab=$K8S_DIR/lab
LAB_NAMES=(allowed.test blocked.test api.lab.test evil.test evilallowed.test private.lab.test git.allowed.test
  git.lab.test)

# What the running lab was started from: its names and server files (a lab from
# older files is restarted by the tests' fixture, which asks `status`).
stamp() {
  { printf '%s\n' "${LAB_NAMES[@]}"; cat "$repo/tests/sidecar/lab/server.js" "$here/lab-dns.py" "$0"; } | sha256sum | cut -c1-16
}

cert() {
  local sans
  sans=$(printf 'DNS:%s,' "${LAB_NAMES[@]}")
  [ -f "$lab/cert.pem" ] && [ "$(cat "$lab/cert.names" 2>/dev/null)" = "$sans" ] && return 0
  printf '%s' "$sans" >"$lab/cert.names"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 -subj "/CN=lab" \
    -keyout "$lab/key.pem" -out "$lab/cert.pem" -addext "subjectAltName=${sans%,}" 2>/dev/null
}

# The bare repository git.lab.test serves, and the token it wants (the password of a basic sign-in).
git_lab() {
  [ -s "$lab/git-token" ] || openssl rand -hex 12 | sed 's/^/lab-git-/' >"$lab/git-token"
  [ -d "$lab/git/repo.git" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  git init -q --bare "$lab/git/repo.git"
  git -C "$lab/git/repo.git" config http.receivepack true
  git -C "$tmp" init -q
  echo "lab repository over https" >"$tmp/README"
  git -C "$tmp" add README
  git -C "$tmp" -c user.name=lab -c user.email=lab@lab.test commit -qm "lab commit"
  git -C "$tmp" push -q "$lab/git/repo.git" HEAD:refs/heads/main
  git --git-dir="$lab/git/repo.git" symbolic-ref HEAD refs/heads/main
  rm -rf "$tmp"
}

up() {
  [ "$(cat "$lab/stamp" 2>/dev/null)" = "$(stamp)" ] || return 1
  [ -f "$lab/web.pid" ] && [ -f "$lab/dns.pid" ] || return 1
  kill -0 "$(cat "$lab/web.pid")" 2>/dev/null && kill -0 "$(cat "$lab/dns.pid")" 2>/dev/null
}

case ${1:-} in
start)
  [ -e "/run/netns/$LAB_NETNS" ] || { log "no lab namespace: run scripts/setup/k8s.sh first"; exit 1; }
  logs=${2:-$lab/logs}
  "$0" stop
  mkdir -p "$lab" "$logs"
  cert
  git_lab
  : >"$logs/web.log"
  : >"$logs/dns.log"
  LAB_DIR=$lab LAB_GIT_TOKEN=$(cat "$lab/git-token") launch "$LAB_CGROUP" ip netns exec "$LAB_NETNS" node "$repo/tests/sidecar/lab/server.js" \
    >"$logs/web.log" 2>&1 </dev/null &
  echo $! >"$lab/web.pid"
  launch "$LAB_CGROUP" ip netns exec "$LAB_NETNS" python3 -u "$here/lab-dns.py" "$LAB_DNS_IP" "$LAB_WEB_IP" \
    private.lab.test="$LAB_PRIVATE_IP" metadata.lab.test=169.254.169.254 ecs.lab.test=169.254.170.2 \
    alibaba.lab.test=100.100.100.200 wireserver.lab.test=168.63.129.16 \
    >"$logs/dns.log" 2>&1 </dev/null &
  echo $! >"$lab/dns.pid"
  for _ in $(seq 100); do
    grep -q '"ready"' "$logs/web.log" && grep -q '"ready"' "$logs/dns.log" && break
    sleep 0.1
  done
  grep -q '"ready"' "$logs/web.log" || { log "web server failed: $(tail -5 "$logs/web.log")"; exit 1; }
  grep -q '"ready"' "$logs/dns.log" || { log "DNS server failed: $(tail -5 "$logs/dns.log")"; exit 1; }
  stamp >"$lab/stamp"
  echo "lab up: web and DNS on $LAB_WEB_IP, logs in $logs"
  ;;
stop)
  kill_cgroup "$LAB_CGROUP"
  rm -f "$lab/web.pid" "$lab/dns.pid"
  ;;
status) up ;;
*)
  echo "usage: $0 start [LOG_DIR] | stop | status" >&2
  exit 2
  ;;
esac
