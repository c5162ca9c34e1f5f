#!/bin/sh
# Writes the generated configuration (from the environment) to the tmpfs,
# refuses to start on any configuration error (Squid itself would go on without
# the line it could not parse: a wall with a missing rule), then runs Squid in
# the foreground; its JSON access log goes to stdout.
set -eu
umask 077
conf=/run/squid/squid.conf
if [ -z "${CLAUDE_BOTTLE_SQUID_CONF:-}" ]; then
  echo "claude-bottle-squid: CLAUDE_BOTTLE_SQUID_CONF is empty" >&2
  exit 64
fi
printf '%s\n' "$CLAUDE_BOTTLE_SQUID_CONF" > "$conf"
unset CLAUDE_BOTTLE_SQUID_CONF
if ! check=$(/usr/sbin/squid -k parse -f "$conf" 2>&1) \
   || printf '%s\n' "$check" | grep -qE 'ERROR|FATAL|Bungled|WARNING: .*(subdomain|subnetwork|duplicate)'; then
  printf '%s\n' "$check" | grep -E 'ERROR|FATAL|Bungled|WARNING' >&2
  echo "claude-bottle-squid: refusing to start with a configuration Squid does not fully accept" >&2
  exit 65
fi
exec /usr/sbin/squid -N -f "$conf"
