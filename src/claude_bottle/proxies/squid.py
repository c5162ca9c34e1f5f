"""Squid (Debian bookworm's squid-openssl), the default egress proxy.

The configuration is generated here (pure) from the bottle's egress, following
the rule order measured in shared/reference/egress-proxies.md:

1. the proxy's own admin interface, DLP, schemes and ports are refused first;
2. then the host allowlist, by name, before any rule that needs an address, so
   a refused name is never resolved (no DNS exfiltration through the proxy);
3. then the addresses no name may reach (addresses.NEVER: link-local, the
   cloud metadata services, CGNAT, loopback, ...), refused even for
   `egress.internal` names;
4. then `egress.internal` names, admitted past the private-address guard;
5. then any other name that resolves to a private address is refused, and the
   rest of the allowlist passes.

The server name in a TLS ClientHello is checked against the allowlist by
default (peek and splice: never decrypted) on the agent's proxy port (3128),
which tunnels to 443 only. ssh tunnels have a port of their own (3129, named in
the agent's ssh config, and only when it has ssh entries), which carries CONNECT
alone, to an ssh port, to the ssh hosts named with that port: ssh is not TLS,
and on a port that checks SNI Squid would answer a refused tunnel by waiting for
a TLS handshake ssh never sends. No tunnel ever goes to 80 (plain HTTP inside a
tunnel would pass no check).

`dstdomain -n` everywhere: without it Squid matches an IP literal's reverse
(PTR) name against the list, which whoever owns the address controls.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import ClassVar

from claude_bottle import addresses
from claude_bottle.proxies.base import (
    READY_HOST,
    ConfigDelivery,
    LiveReload,
    ProxyBackend,
    ProxySpec,
    Readiness,
    SidecarShape,
)
from claude_bottle.proxies.credentials import REPLACED, Injection
from claude_bottle.proxies.events import (
    CONNECTION_FAILED,
    CONNECTION_REFUSED,
    CREDENTIAL_HOST,
    HOST_NOT_ALLOWED,
    HOST_UNREACHABLE,
    METADATA_ADDRESS,
    NAME_NOT_RESOLVED,
    PORT_NOT_ALLOWED,
    PRIVATE_ADDRESS,
    PROXY_ADMIN,
    SCHEME_NOT_ALLOWED,
    SECRET_IN_REQUEST,
    SNI_NOT_ALLOWED,
    TLS_FAILED,
    UPSTREAM_ERROR,
    UPSTREAM_TIMEOUT,
    EgressEvent,
)
from claude_bottle.secret_shapes import SECRET_PATTERNS  # also what the CLI never prints

PORT = 3128
SSH_PORT = 3129  # CONNECT to the ssh hosts' ports only; never peeked at
IMAGE = "claude-bottle-squid:latest"
CONFIG_ENV = "CLAUDE_BOTTLE_SQUID_CONF"
# The credentials the sidecar adds (base64 of Squid lines): a secret, so not under
# the tool's own prefix, whose variables travel in the docker client's environment.
CREDENTIALS_ENV = "BOTTLE_SIDECAR_CREDENTIALS"
SSH_KEYS_ENV = "BOTTLE_SIDECAR_SSH_KEYS"  # private keys for its ssh-agent, base64, space-separated
# Written by the image's entrypoint from CONFIG_ENV into a tmpfs (the root is read-only).
RUN_DIR = "/run/squid"
CREDENTIALS_FILE = f"{RUN_DIR}/credentials.conf"  # mode 600, the proxy user's
PROXY_UID = 13  # Debian's `proxy` user
TLS_CERT = "/etc/squid/bottle-tls/cert.pem"  # a throwaway pair made at image build;
TLS_KEY = "/etc/squid/bottle-tls/key.pem"  # loaded, never used to sign anything


def _dst(ranges: tuple[str, ...]) -> tuple[str, ...]:
    """Ranges as a Squid `dst` list: a single address without its prefix length."""
    out = []
    for net in addresses.networks(ranges):
        out.append(str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net))
    return tuple(out)


# One list for every proxy and engine (addresses.py), made into `dst` lists when a
# configuration is rendered (so the tests that render one are what check them).
# Never ::ffff:0:0/96 here: Squid stores IPv4 addresses v4-mapped, so that entry
# would mean "every IPv4 address".

CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "X-Api-Key", "Cookie")

REASONS = {
    "why_admin": PROXY_ADMIN,
    "why_dlp": SECRET_IN_REQUEST,
    "why_scheme": SCHEME_NOT_ALLOWED,
    "why_port": PORT_NOT_ALLOWED,
    "why_host": HOST_NOT_ALLOWED,
    "why_meta": METADATA_ADDRESS,
    "why_private": PRIVATE_ADDRESS,
    "why_sni": SNI_NOT_ALLOWED,
    "why_credential": CREDENTIAL_HOST,
}

LOG_FORMAT = (
    '{"ts":%ts.%03tu,"method":"%"rm","host":"%">rd","port":"%>rP","status":%>Hs,'
    '"result":"%Ss","server":"%<a","reason":"%"{reason}note","warning":"%"{dlp_warning}note",'
    '"sni":"%"ssl::>sni","error":"%err_code","detail":"%"err_detail"}'
)


def squid_domains(hosts: tuple[str, ...]) -> tuple[str, ...]:
    """Allowlist entries as Squid domains: lower case, no trailing dot, `*.d`
    as `.d` (the apex and every subdomain, as the manifest means it), and no
    entry that a wildcard already covers (Squid refuses to start on some such
    pairs, depending on their order)."""
    names = []
    for host in hosts:
        name = host.lower().rstrip(".")
        names.append("." + name[2:] if name.startswith("*.") else name)
    wildcards = {n[1:] for n in names if n.startswith(".")}

    def covered(name: str) -> bool:
        bare = name.lstrip(".")
        parts = bare.split(".")
        # A strict parent wildcard covers it; an exact name is also covered by its own apex wildcard.
        parents = {".".join(parts[i:]) for i in range(1, len(parts))}
        return bool(parents & wildcards) or (not name.startswith(".") and bare in wildcards)

    return tuple(dict.fromkeys(n for n in names if not covered(n)))


def _acl(name: str, kind: str, values: tuple[str, ...] | list[str]) -> str:
    return f"acl {name} {kind} {' '.join(values)}"


def _header_lines(spec: ProxySpec) -> list[str]:
    return [
        f"http_port {PORT}" + (
            f" ssl-bump tls-cert={TLS_CERT} tls-key={TLS_KEY} generate-host-certificates=off"
            if spec.sni else ""
        ),
        *([f"http_port {SSH_PORT} name=ssh_tunnels"] if spec.ssh_routes else []),
        # An injected host's port: whatever host or URL the agent sends, the request
        # goes to that host alone (no-vhost: its Host header is not read).
        *(f"http_port {i.port} accel defaultsite={i.host} no-vhost name={_port_name(i)}"
          for i in spec.injections),
        "pid_filename none",  # nothing written outside the tmpfs: the root is read-only
        "visible_hostname egress-proxy",  # no reverse-DNS self-test at start
        "cache_log stdio:/dev/stderr",
        "logfile_rotate 0",
        "netdb_filename none",
        "max_filedescriptors 4096",  # about 2000 concurrent tunnels
        "shutdown_lifetime 0 seconds",  # on SIGTERM, close and log open tunnels at once
        f"coredump_dir {RUN_DIR}",
        "cache deny all",
        "cache_mem 8 MB",
        "via off",
        "forwarded_for delete",
        "httpd_suppress_version_string on",
        # An agent's API streams can be silent for long; tunnels live all session.
        "read_timeout 60 minutes",
        "write_timeout 60 minutes",
        "client_lifetime 24 hours",
        "pinger_enable off",  # the ICMP helper would need CAP_NET_RAW
        "icp_port 0",
        "htcp_port 0",
        "icp_access deny all",
        "htcp_access deny all",
        "snmp_access deny all",
    ]  # fmt: skip


def _acl_lines(spec: ProxySpec, allowed: tuple[str, ...], internal: tuple[str, ...]) -> list[str]:
    lines = [
        "acl CONNECT method CONNECT",
        "acl web_proto proto HTTP",
        "acl web_ports port 80",  # plain HTTP only as ordinary proxied requests to port 80
        "acl https_port port 443",  # the one port the agent's proxy port tunnels to
        *_ssh_acls(spec),
        _acl("metadata_dst", "dst", _dst(addresses.METADATA)),
        _acl("never_dst", "dst", _dst(tuple(r for r in addresses.NEVER if r not in addresses.METADATA))),
        _acl("private_dst", "dst", _dst(addresses.PRIVATE)),
    ]  # fmt: skip
    if allowed:
        lines.append(_acl("allowed_hosts", "dstdomain -n", allowed))
    if internal:
        lines.append(_acl("internal_hosts", "dstdomain -n", internal))
    lines += _injection_acls(spec)
    if spec.dlp != "off":
        lines.append(_acl("dlp_url", "url_regex", SECRET_PATTERNS))
        # One header per ACL (Squid refuses more), joined with any-of.
        names = [f"dlp_h{i}" for i in range(len(CREDENTIAL_HEADERS))]
        for acl, header in zip(names, CREDENTIAL_HEADERS, strict=True):
            lines.append(_acl(acl, f"req_header {header}", SECRET_PATTERNS))
        lines.append(_acl("dlp_header", "any-of", names))
        credential = squid_domains(spec.credential_hosts)
        if credential:
            lines.append(_acl("credential_hosts", "dstdomain -n", credential))
    # annotate_transaction always matches: it stands last on a rule to record why.
    lines += [f"acl {acl} annotate_transaction reason={reason}" for acl, reason in REASONS.items()]
    return lines


def _ssh_acls(spec: ProxySpec) -> list[str]:
    if not spec.ssh_routes:
        return []
    lines = [
        "acl ssh_listener myportname ssh_tunnels",
        _acl("ssh_ports", "port", [str(p) for p in spec.ssh_ports]),
    ]
    for port in spec.ssh_ports:
        lines.append(f"acl ssh_port_{port} port {port}")
        lines.append(_acl(f"ssh_hosts_{port}", "dstdomain -n", squid_domains(spec.ssh_hosts(port))))
    return lines


def _port_rules(spec: ProxySpec) -> list[str]:
    """Which port a request may go to, by the listener it came in on."""
    if not spec.ssh_routes:
        return [
            "http_access deny CONNECT !https_port why_port",
            "http_access deny !CONNECT !web_ports why_port",
        ]
    return [
        "http_access deny ssh_listener !CONNECT why_scheme",  # the ssh port carries tunnels only
        "http_access deny ssh_listener !ssh_ports why_port",
        "http_access deny !ssh_listener CONNECT !https_port why_port",
        "http_access deny !CONNECT !web_ports why_port",
    ]


def _port_name(injection: Injection) -> str:
    return f"inject_{injection.port}"


def _injection_acls(spec: ProxySpec) -> list[str]:
    if not spec.injections:
        return []
    names = [_port_name(i) for i in spec.injections]
    return [
        *(f"acl {name} myportname {name}" for name in names),
        _acl("inject_ports", "myportname", names),
        _acl("injected_hosts", "dstdomain -n", squid_domains(tuple(i.host for i in spec.injections))),
    ]


def _injection_lines(spec: ProxySpec) -> list[str]:
    """Each injected host as the one parent of its port, over TLS (the system's
    CAs verify it), with the agent's credential headers dropped and the real one
    added. Persistent connections to origins are off: Squid 5.7 keeps its pool of
    server connections by address, and would send a request meant for one host
    down a connection opened for another at the same address (two hosts behind
    one CDN address), with that other host's name (measured)."""
    if not spec.injections:
        return []
    lines = ["server_persistent_connections off", "never_direct allow inject_ports"]
    for i in spec.injections:
        peer, port = f"peer_{i.port}", _port_name(i)
        tls = " tls" if i.scheme == "https" else ""
        lines += [
            f"cache_peer {i.host} parent {i.upstream_port} 0 no-query originserver no-digest"
            f" no-netdb-exchange{tls} forceddomain={i.host} name={peer}",
            f"cache_peer_access {peer} allow {port}",
            f"cache_peer_access {peer} deny all",
        ]
    lines += [f"request_header_access {header} deny inject_ports" for header in REPLACED]
    # The values: a file the image's entrypoint writes from a secret variable (never here).
    lines.append(f"include {CREDENTIALS_FILE}")
    return lines


def render_credentials(spec: ProxySpec, credentials: Mapping[int, str]) -> str:
    """The lines that add each injected host's credential (`credentials`: header
    values by port). Only the sidecar's, at launch; never shown or logged."""
    return "".join(
        f'request_header_add {i.header} "{credentials[i.port]}" {_port_name(i)}\n'
        for i in spec.injections
        if i.port in credentials
    )


def _dlp_rules(spec: ProxySpec) -> list[str]:
    if spec.dlp == "off":
        return []
    exempt = " !credential_hosts" if spec.credential_hosts else ""
    # The agent's placeholder credential is secret-shaped, and is dropped there.
    exempt += " !inject_ports" if spec.injections else ""
    matches = [("dlp_url", ""), ("dlp_header", exempt)]
    if spec.dlp == "warn":
        return [f"note dlp_warning {SECRET_IN_REQUEST} {acl}{cond}" for acl, cond in matches]
    return [f"http_access deny {acl}{cond} why_dlp" for acl, cond in matches]


def _access_rules(spec: ProxySpec, allowed: tuple[str, ...], internal: tuple[str, ...]) -> list[str]:
    not_listed = "".join(f" !{acl}" for acl, hosts in (("allowed_hosts", allowed),
                                                        ("internal_hosts", internal)) if hosts)  # fmt: skip
    rules = [
        "http_access deny manager why_admin",
        *_dlp_rules(spec),
        # An injected host's port goes to that host alone; the host itself is reached no other way.
        *(
            ["http_access allow inject_ports", "http_access deny injected_hosts why_credential"]
            if spec.injections
            else []
        ),
        "http_access deny !CONNECT !web_proto why_scheme",  # urn:, ftp:, absolute https://
        *_port_rules(spec),
        # Before any rule that needs an address: a refused name is never resolved.
        f"http_access deny{not_listed} why_host" if not_listed else "http_access deny all why_host",
        # An allowed host, but not one named with this ssh port.
        *(f"http_access deny ssh_listener ssh_port_{p} !ssh_hosts_{p} why_port" for p in spec.ssh_ports),
        # Even for egress.internal names:
        "http_access deny metadata_dst why_meta",
        "http_access deny never_dst why_private",
    ]
    if internal:
        rules.append("http_access allow internal_hosts")
    rules.append("http_access deny private_dst why_private")  # any resolved address private: refused
    if allowed:
        rules.append("http_access allow allowed_hosts")
    rules.append("http_access deny all why_host")
    return rules


def _sni_lines(allowed: tuple[str, ...], internal: tuple[str, ...]) -> list[str]:
    names = squid_domains(allowed + internal)
    return [
        "acl step1 at_step SslBump1",
        "acl tls_ports port 443",
        _acl("sni_allowed", "ssl::server_name", names),
        "ssl_bump splice step1 !tls_ports",  # never peek at what is not HTTPS
        "ssl_bump peek step1",  # read the ClientHello only
        "ssl_bump splice sni_allowed",  # then splice: never decrypted
        "ssl_bump terminate all why_sni",
        "on_unsupported_protocol respond all",
    ]


def render_squid_config(spec: ProxySpec) -> str:
    allowed = squid_domains(spec.allow)
    internal = squid_domains(spec.internal)
    lines = [
        "# claude-bottle egress sidecar (generated; see claude_bottle/proxies/squid.py)",
        *_header_lines(spec),
        *_acl_lines(spec, allowed, internal),
        *_access_rules(spec, allowed, internal),
        *_injection_lines(spec),
        *(_sni_lines(allowed, internal) if spec.sni else []),
        f"logformat bottlejson {LOG_FORMAT}",
        "access_log stdio:/dev/stdout bottlejson",
    ]
    return "\n".join(lines) + "\n"


# What in `squid -k parse`'s output refuses a configuration: Squid itself would
# skip a line it cannot parse and run without that rule (the image's entrypoint
# checks the same words at start; a unit test holds the two equal).
PARSE_REFUSES = "ERROR|FATAL|Bungled|WARNING: .*(subdomain|subnetwork|duplicate)"
RELOADED = "claude-bottle-squid: reconfigured"
RELOAD_SECONDS = 5

# Run in the sidecar as Squid's own user, the new configuration on stdin: check
# it whole first, put it in place, and signal Squid (PID 1 of its container) to
# reconfigure, which keeps its open connections and tunnels (measured: a tunnel
# open across it carries its next request). Squid closes and reopens its
# listening port while it reconfigures: done once the port listens again on a
# socket of its own (its inode in /proc/net/tcp or tcp6 changed).
RELOAD_SCRIPT = f"""set -eu
umask 077
conf={RUN_DIR}/squid.conf
next={RUN_DIR}/squid.conf.next
cat > "$next"
if ! out=$(/usr/sbin/squid -k parse -f "$next" 2>&1) \\
   || printf '%s\\n' "$out" | grep -qE '{PARSE_REFUSES}'; then
  printf '%s\\n' "$out" | grep -E 'ERROR|FATAL|Bungled|WARNING' >&2 || true
  rm -f "$next"
  echo "claude-bottle-squid: the new configuration is not fully accepted; the running one stays" >&2
  exit 65
fi
# IPv4 or IPv6 (a dual-stack socket where the namespace has IPv6, as a pod may).
listener() {{
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$2 ~ /:{PORT:04X}$/ && $4 == "0A" {{print $10}}'
}}
before=$(listener)
if [ -z "$before" ]; then
  rm -f "$next"
  echo "claude-bottle-squid: no listening socket of Squid's seen" >&2
  exit 75
fi
mv -f "$next" "$conf"
kill -HUP 1
i=0
while now=$(listener); [ -z "$now" ] || [ "$now" = "$before" ]; do
  i=$((i + 1))
  if [ "$i" -ge {RELOAD_SECONDS * 20} ]; then echo "claude-bottle-squid: no reconfigure seen" >&2; exit 75; fi
  sleep 0.05
done
echo "{RELOADED}"
"""


def _port(text: object) -> int | None:
    try:
        return int(str(text))
    except ValueError:
        return None


# Squid's own error pages for a request it let through but could not take to its
# host (err_code), as the failure the summary names; errno from err_detail.
_ERRNO_FAILURES = {"111": CONNECTION_REFUSED, "110": UPSTREAM_TIMEOUT, "113": HOST_UNREACHABLE,
                   "101": HOST_UNREACHABLE}  # fmt: skip
_ERROR_FAILURES = {
    "ERR_DNS_FAIL": NAME_NOT_RESOLVED,
    "ERR_CONNECT_FAIL": CONNECTION_FAILED,
    "ERR_READ_TIMEOUT": UPSTREAM_TIMEOUT,
    "ERR_LIFETIME_EXP": UPSTREAM_TIMEOUT,
    "ERR_SECURE_CONNECT_FAIL": TLS_FAILED,
    "ERR_CANNOT_FORWARD": CONNECTION_FAILED,
    "ERR_READ_ERROR": UPSTREAM_ERROR,
    "ERR_WRITE_ERROR": UPSTREAM_ERROR,
    "ERR_ZERO_SIZE_OBJECT": UPSTREAM_ERROR,
    "ERR_GATEWAY_FAILURE": UPSTREAM_ERROR,
}


def squid_failure(entry: dict[str, object]) -> str:
    """Why a request Squid let through got no answer from its host, or "" (pure).
    Measured on Squid 5.7: a name that does not resolve leaves no server address
    (a tunnel logs ERR_CANNOT_FORWARD, plain HTTP ERR_READ_ERROR); a refused
    connection is ERR_CONNECT_FAIL with its errno, except for a tunnel whose TLS
    server name was peeked at, which Squid logs as a bare 503 (no error code)."""
    error, detail = str(entry.get("error", "-")), str(entry.get("detail", "-"))
    status, server = entry.get("status"), str(entry.get("server", "-"))
    code = int(status) if isinstance(status, int) else 0
    failure = _ERROR_FAILURES.get(error, "")
    if not failure and str(entry.get("result", "")).startswith("NONE_NONE") and code >= 500:
        failure = CONNECTION_FAILED  # a peeked tunnel that never reached its host
    if not failure:
        return ""
    if server in ("-", "") and failure in (CONNECTION_FAILED, UPSTREAM_ERROR):
        return NAME_NOT_RESOLVED  # no address was ever chosen
    errno = detail.partition("errno=")[2].split("+")[0] if "errno=" in detail else ""
    return _ERRNO_FAILURES.get(errno, failure) if failure == CONNECTION_FAILED else failure


def read_squid_log(text: str) -> list[EgressEvent]:
    """Squid's JSON access log as shared events. Squid escapes what it copies
    from a request into the log, and raw bytes are decoded leniently, so a
    hostile URL cannot break a line; a line that is not ours is skipped."""
    events = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry: dict[str, object] = json.loads(line)  # a line starting "{" is an object or an error
        except ValueError:
            continue
        result, reason = str(entry.get("result", "")), str(entry.get("reason", "-"))
        host = str(entry.get("host", "-"))
        if reason == SNI_NOT_ALLOWED and entry.get("sni") not in (None, "", "-"):
            host = str(entry["sni"])
        status = entry.get("status")
        peek = (
            result.startswith("NONE_NONE")
            and reason == "-"
            and not (isinstance(status, int) and status >= 500)
        )
        if host in ("-", "", READY_HOST) or peek:
            continue  # bare TCP probes, origin-form requests, our readiness probe, SNI peeks
        refused = result.startswith("TCP_DENIED") or reason != "-"
        warning = str(entry.get("warning", "-")).split(",")[0]
        ts = entry.get("ts")
        events.append(EgressEvent(
            host=host.lower(), port=_port(entry.get("port")), allowed=not refused,
            reason=(reason if reason != "-" else HOST_NOT_ALLOWED) if refused else "",
            method=str(entry.get("method", "")),
            ts=float(ts) if isinstance(ts, int | float) else None,
            warning="" if refused or warning == "-" else warning,
            failure="" if refused else squid_failure(entry),
        ))  # fmt: skip
    return events


class SquidBackend(ProxyBackend):
    name: ClassVar[str] = "squid"
    port: ClassVar[int] = PORT
    enforces_ports: ClassVar[bool] = True
    delivery: ClassVar[ConfigDelivery] = ConfigDelivery(env_var=CONFIG_ENV)

    def default_image(self) -> str:
        return IMAGE

    injects: ClassVar[bool] = True

    def render_config(self, spec: ProxySpec) -> str:
        return render_squid_config(spec)

    def secret_env(
        self, spec: ProxySpec, credentials: Mapping[int, str], ssh_keys: Sequence[bytes] = ()
    ) -> dict[str, str]:
        # Each one line (the engine's env file carries no line break): the entrypoint decodes them.
        out = {}
        if spec.injections:
            out[CREDENTIALS_ENV] = base64.b64encode(render_credentials(spec, credentials).encode()).decode()
        if ssh_keys:
            out[SSH_KEYS_ENV] = " ".join(base64.b64encode(key).decode() for key in ssh_keys)
        return out

    def shape(self) -> SidecarShape:
        return SidecarShape(
            read_only=True,
            tmpfs=((RUN_DIR, f"rw,noexec,nosuid,nodev,size=4m,mode=0700,uid={PROXY_UID},gid={PROXY_UID}"),),
        )

    def command(self) -> tuple[str, ...]:
        return ()  # the image's entrypoint writes the config and starts squid

    def ssh_port(self, spec: ProxySpec) -> int:
        return SSH_PORT if spec.ssh_routes else PORT

    def readiness(self, address: str) -> Readiness:
        # Squid answers a refused name with 403 without resolving it.
        return Readiness(url=f"http://{READY_HOST}/", status=403, via_proxy=True)

    def read_events(self, log: str) -> list[EgressEvent]:
        return read_squid_log(log)

    def live_reload(self) -> LiveReload:
        return LiveReload(script=("sh", "-c", RELOAD_SCRIPT), done=RELOADED)

    def hand_in(self, spec: ProxySpec, credentials: Mapping[int, str]) -> tuple[tuple[str, ...], bytes]:
        # On the tmpfs, mode 600, replaced whole: the configuration includes the file.
        script = 'umask 077; cat > "$0.next" && mv -f "$0.next" "$0"'
        return ("sh", "-c", script, CREDENTIALS_FILE), render_credentials(spec, credentials).encode()
