#!/bin/sh
# Writes the generated configuration (from the environment) to the tmpfs,
# refuses to start on any configuration error (Squid itself would go on without
# the line it could not parse: a wall with a missing rule), then runs Squid in
# the foreground; its JSON access log goes to stdout.
#
# Two secrets may come with it, each one line of base64 (the engine's env file
# carries no line break), each written to the tmpfs (mode 600) and dropped from
# the environment before Squid starts:
# - BOTTLE_SIDECAR_CREDENTIALS: the Squid lines that add a credential to the
#   requests for an injected host (the configuration includes the file);
# - BOTTLE_SIDECAR_SSH_KEYS: private keys, space-separated, loaded into an
#   ssh-agent whose socket is offered to the agent on TCP 3127 (the floor lets
#   only the bottle's own network reach it). The agent signs with them and
#   never reads them.
set -eu
umask 077
run=/run/squid
conf=$run/squid.conf
if [ -z "${CLAUDE_BOTTLE_SQUID_CONF:-}" ]; then
  echo "claude-bottle-squid: CLAUDE_BOTTLE_SQUID_CONF is empty" >&2
  exit 64
fi
printf '%s\n' "$CLAUDE_BOTTLE_SQUID_CONF" > "$conf"
unset CLAUDE_BOTTLE_SQUID_CONF
: > "$run/credentials.conf"
if [ -n "${BOTTLE_SIDECAR_CREDENTIALS:-}" ]; then
  printf '%s' "$BOTTLE_SIDECAR_CREDENTIALS" | base64 -d > "$run/credentials.conf"
fi
unset BOTTLE_SIDECAR_CREDENTIALS
if [ -n "${BOTTLE_SIDECAR_SSH_KEYS:-}" ]; then
  SSH_AUTH_SOCK=$run/ssh-agent.sock
  export SSH_AUTH_SOCK
  ssh-agent -a "$SSH_AUTH_SOCK" >/dev/null
  i=0
  for key in $BOTTLE_SIDECAR_SSH_KEYS; do
    i=$((i + 1))
    printf '%s' "$key" | base64 -d > "$run/key.$i"
    ssh-add -q "$run/key.$i" </dev/null 2>/dev/null || { rm -f "$run/key.$i"; echo "claude-bottle-squid: an ssh key could not be loaded" >&2; exit 66; }
    rm -f "$run/key.$i"
  done
  socat TCP-LISTEN:3127,reuseaddr,fork "UNIX-CONNECT:$SSH_AUTH_SOCK" &
  unset SSH_AUTH_SOCK
fi
unset BOTTLE_SIDECAR_SSH_KEYS
# (A line of the credentials file is never printed: Squid names the file and line.)
if ! check=$(/usr/sbin/squid -k parse -f "$conf" 2>&1) \
   || printf '%s\n' "$check" | grep -qE 'ERROR|FATAL|Bungled|WARNING: .*(subdomain|subnetwork|duplicate)'; then
  printf '%s\n' "$check" | grep -E 'ERROR|FATAL|Bungled|WARNING' \
    | sed 's#\(credentials.conf line [0-9]*\): .*#\1: (a credential line, not shown)#' >&2
  echo "claude-bottle-squid: refusing to start with a configuration Squid does not fully accept" >&2
  exit 65
fi
exec /usr/sbin/squid -N -f "$conf"
