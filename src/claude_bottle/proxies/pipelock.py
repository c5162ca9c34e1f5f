"""Pipelock, the optional egress proxy (`egress.proxy: "pipelock"`).

Its configuration is generated here (pure) from Pipelock's documented keys,
never from its shipped presets (those carry a third party's error-reporting
DSN; Sentry is switched off). The document is JSON, which is YAML, so no YAML
library is needed and what is written is exactly what is tested.

Pipelock checks the host of every request but lets a CONNECT reach any port of
an allowed host, and its `trusted_domains` (how `egress.internal` names pass its
private-address guard) admit every private address, the metadata addresses too.
So it relies on the floor under it (bottle/floor.py), which refuses both; the
floor's refusals reach this log as dial errors and are read back as
`port_not_allowed`, `private_address` and `metadata_address`. Its image is not
built here: it is pulled (or loaded by the user) under the pinned tag in
pipelock_image.py.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from claude_bottle import addresses
from claude_bottle.proxies.base import (
    FLOOR_REFUSED,
    ConfigDelivery,
    LiveReload,
    ProxyBackend,
    ProxySpec,
    Readiness,
    SidecarShape,
)
from claude_bottle.proxies.events import (
    BODY_NOT_SCANNED,
    CONNECTION_REFUSED,
    HOST_NOT_ALLOWED,
    HOST_UNREACHABLE,
    METADATA_ADDRESS,
    NAME_NOT_RESOLVED,
    PORT_NOT_ALLOWED,
    PRIVATE_ADDRESS,
    SCHEME_NOT_ALLOWED,
    SECRET_IN_REQUEST,
    SNI_NOT_ALLOWED,
    SNI_UNVERIFIED,
    TLS_FAILED,
    UPSTREAM_ERROR,
    UPSTREAM_TIMEOUT,
    EgressEvent,
)
from claude_bottle.proxies.pipelock_image import DEFAULT_PIPELOCK_IMAGE

PROXY_PORT = 8888
CONFIG_PATH = "/etc/claude-bottle/pipelock.yaml"
# Off the agent-facing listener: /metrics and /stats answer only inside the sidecar.
METRICS_LISTEN = "127.0.0.1:9464"
# Pipelock's defaults (60 requests a minute per registrable domain, 300 s per
# tunnel, 120 s idle) cut a long agent session's API streams; these do not.
REQUESTS_PER_MINUTE = 100_000
MAX_TUNNEL_SECONDS = 24 * 3600
IDLE_TIMEOUT_SECONDS = 3600
# Pipelock buffers a plain-HTTP request body to scan it and refuses one it
# cannot hold (fail closed). Its default, pinned here so the README's limit is
# this file's: a larger body must go over HTTPS (a tunnel, not scanned).
MAX_BODY_BYTES = 5 * 1024 * 1024


def pipelock_config(spec: ProxySpec) -> dict[str, Any]:
    hosts = list(dict.fromkeys(spec.allow + spec.internal))
    config: dict[str, Any] = {
        "version": 1,
        "mode": "strict",  # only api_allowlist hosts pass
        "enforce": True,
        "explain_blocks": False,
        "api_allowlist": hosts,
        "fetch_proxy": {
            "listen": f"0.0.0.0:{PROXY_PORT}",
            "monitoring": {"max_requests_per_minute": REQUESTS_PER_MINUTE},
        },
        "forward_proxy": {
            "enabled": True,
            "max_tunnel_seconds": MAX_TUNNEL_SECONDS,
            "idle_timeout_seconds": IDLE_TIMEOUT_SECONDS,
            # Pipelock always checks the SNI; egress.sni is Squid's switch.
            "sni_verification": True,
        },
        "metrics_listen": METRICS_LISTEN,
        "request_body_scanning": {
            "enabled": spec.dlp != "off",
            "action": "block" if spec.dlp == "block" else "warn",
            "scan_headers": True,
            "max_body_bytes": MAX_BODY_BYTES,
        },
        "logging": {
            "format": "json",
            "output": "stdout",
            "include_allowed": True,
            "include_blocked": True,
        },
        "sentry": {"enabled": False},
    }
    if spec.internal:
        # Admitted past the private-address guard by name only; the guard stays on
        # for every other name. These names may reach any private address, the
        # metadata address too: the port guard refuses that one.
        config["trusted_domains"] = list(spec.internal)
    return config


def render_pipelock_config(spec: ProxySpec) -> str:
    return json.dumps(pipelock_config(spec), indent=2) + "\n"


def pipelock_refusal(spec: ProxySpec) -> str | None:
    """Why Pipelock cannot carry this bottle (pure), or None. Its request DLP
    reads the headers and body of every plain-HTTP request, whatever the host
    (Pipelock 2.3 has no per-host exemption for it), and Claude Code's own
    requests trip it: the agent's key in a header, and a "BIP-39 seed phrase" it
    finds in every request body of Claude Code 2 (measured). So a plain-HTTP
    model endpoint would refuse every model request of the session."""
    if spec.dlp != "block" or not spec.plain_credential_hosts:
        return None
    return (
        f"the model endpoint {', '.join(spec.plain_credential_hosts)} (ANTHROPIC_BASE_URL) is plain HTTP, "
        "and the pipelock egress proxy scans the headers and body of every plain-HTTP request, whatever "
        "its host: it cannot exempt the model endpoint, and it refuses Claude Code's own requests (the "
        "key in their headers, and a false BIP-39 seed phrase in their bodies). Use an https:// "
        'ANTHROPIC_BASE_URL (a tunnel, which Pipelock does not read), egress.proxy "squid" (which '
        'exempts the model endpoint\'s credentials), or egress.dlp "warn" (Pipelock then reports, and '
        "lets through, what its request DLP finds, for every host)"
    )


# Pipelock's events for traffic it let through: fetches, CONNECT tunnels (logged
# when the client's first bytes passed the SNI check), plain HTTP.
ALLOWED_EVENTS = frozenset({"allowed", "tunnel_open", "forward_http"})
# Its request DLP, logged under its own names, whether it blocked or only warned.
DLP_EVENTS = frozenset({"body_dlp", "header_dlp", "url_dlp", "dlp"})


def _host_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [v6]:port or [v6]
        host, _, rest = text[1:].partition("]")
        port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    return host.lower(), int(port) if port.isdigit() else None


def _target(event: dict[str, Any]) -> tuple[str, int | None]:
    target = event.get("target")
    if isinstance(target, str) and target:
        return _host_port(target)
    url = event.get("url")
    if isinstance(url, str) and url:
        try:
            parts = urlsplit(url)
            return (parts.hostname or url).lower(), parts.port
        except ValueError:
            return url.lower(), None
    host = event.get("connect_host")  # an SNI check's event names the CONNECT host alone
    return (host.lower(), None) if isinstance(host, str) and host else ("(unknown)", None)


# The address and port a dial error names ("dial tcp 10.1.2.3:443: ...", or [v6]:port).
_DIALLED = re.compile(r"dial tcp (?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]+)")
_BARE_V4 = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b")


def _address_reason(text: str, floor: bool = False) -> str | None:
    """The refusal the address in `text` means (addresses.py), or None where there
    is none. For the floor's refusal of a dial to an HTTP or HTTPS port: the
    address was refused (a private address is opened only as an internal host's);
    to any other port: the port (the floor opens an internal host on the egress
    ports only), unless it is a metadata address, refused on every port."""
    dialled = _DIALLED.search(text)
    if dialled:
        address, port = dialled.group(1) or dialled.group(2), int(dialled.group(3))
    else:
        bare = _BARE_V4.search(text)
        address, port = (bare.group(1) if bare else None), None
    kind = addresses.classify(address) if address else None
    if kind == "metadata":
        return METADATA_ADDRESS
    if floor and port not in (80, 443):
        return None
    return PRIVATE_ADDRESS if kind in ("never", "private") else None


def _blocked_reason(event: dict[str, Any]) -> str:
    scanner, text = str(event.get("scanner", "")), str(event.get("reason", ""))
    lowered = text.lower()
    if scanner == "body_dlp" and ("max_body_bytes" in lowered or "content-encoding" in lowered):
        return BODY_NOT_SCANNED
    if "dlp" in scanner or "entropy" in scanner:
        return SECRET_IN_REQUEST
    if scanner in ("allowlist", "blocklist") or "allowlist" in lowered:
        return HOST_NOT_ALLOWED
    if scanner == "ssrf" or "ssrf" in lowered or "private" in lowered:
        return _address_reason(text) or PRIVATE_ADDRESS
    if scanner == "scheme":
        return SCHEME_NOT_ALLOWED
    return text or "refused"


def _dial_refusal(error: str) -> str | None:
    """Why a connection Pipelock opened was refused, from its dial error: by the
    floor under it (its own error, see proxies/base.py: by the address when the
    floor refuses that address, else the port), or by Pipelock's check of the
    addresses a name resolved to when it dialled. None: the far end failed."""
    if FLOOR_REFUSED in error:
        return _address_reason(error, floor=True) or PORT_NOT_ALLOWED
    if "SSRF blocked" in error:
        return _address_reason(error) or PRIVATE_ADDRESS
    return None


# Go's words for a dial or a read that failed after the policy let it through.
_UPSTREAM_WORDS = (
    ("no such host", NAME_NOT_RESOLVED),
    ("server misbehaving", NAME_NOT_RESOLVED),
    ("connection refused", CONNECTION_REFUSED),
    ("no route to host", HOST_UNREACHABLE),
    ("network is unreachable", HOST_UNREACHABLE),
    ("i/o timeout", UPSTREAM_TIMEOUT),
    ("deadline exceeded", UPSTREAM_TIMEOUT),
    ("tls:", TLS_FAILED),
    ("x509:", TLS_FAILED),
)


def upstream_failure(error: str) -> str:
    """Why a request Pipelock let through got no answer, from its error (pure)."""
    lowered = error.lower()
    return next((failure for words, failure in _UPSTREAM_WORDS if words in lowered), UPSTREAM_ERROR)


def _ts(event: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str(event["time"])).timestamp()
    except (KeyError, ValueError):
        return None


def _entry(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def read_pipelock_log(text: str) -> list[EgressEvent]:
    """Pipelock's JSON log as shared events. A DLP finding in "warn" mode is
    logged apart from the request it let through: within one read it is joined
    to that request's event (by request id) as its warning; alone (a line read
    as it comes, by `egress --follow`), it is an allowed event with the warning."""
    entries = [e for e in map(_entry, text.splitlines()) if e is not None]
    # Requests with an event of their own besides their DLP findings' (passed or refused).
    told = {e.get("request_id") for e in entries if e.get("event") not in DLP_EVENTS}
    opened = {e.get("request_id") for e in entries if e.get("event") in ALLOWED_EVENTS}
    warned = {
        e.get("request_id"): SECRET_IN_REQUEST
        for e in entries
        if e.get("event") in DLP_EVENTS and e.get("action") != "block"
    }
    events = []
    for entry in entries:
        kind, request = entry.get("event"), entry.get("request_id")
        host, port = _target(entry)
        method, ts = str(entry.get("method", "")), _ts(entry)
        if kind in DLP_EVENTS:
            if entry.get("action") == "block":
                events.append(EgressEvent(host, port, False, SECRET_IN_REQUEST, method, ts))
            elif request is None or request not in told:
                events.append(EgressEvent(host, port, True, method=method, ts=ts, warning=SECRET_IN_REQUEST))
        elif kind == "blocked":
            events.append(EgressEvent(host, port, False, _blocked_reason(entry), method, ts))
        elif kind == "sni_mismatch":
            if entry.get("category") == "mismatch" and entry.get("sni_host"):
                sni = str(entry["sni_host"]).lower()
                events.append(EgressEvent(sni, None, False, SNI_NOT_ALLOWED, "CONNECT", ts))
            else:  # the client sent nothing within Pipelock's wait, or no readable ClientHello
                events.append(EgressEvent(host, None, False, SNI_UNVERIFIED, "CONNECT", ts))
        elif kind == "error" and host != "(unknown)" and request not in opened:
            error = str(entry.get("error", ""))
            refused = _dial_refusal(error)
            # Anything else failed after the policy let it through, as Squid logs it too.
            failure = "" if refused else upstream_failure(error)
            events.append(EgressEvent(host, port, not refused, refused or "", method, ts, failure=failure))
        elif kind in ALLOWED_EVENTS:
            events.append(
                EgressEvent(host, port, True, method=method, ts=ts, warning=warned.get(request, ""))
            )
    return events


class PipelockBackend(ProxyBackend):
    name: ClassVar[str] = "pipelock"
    port: ClassVar[int] = PROXY_PORT
    enforces_ports: ClassVar[bool] = False
    delivery: ClassVar[ConfigDelivery] = ConfigDelivery(file_path=CONFIG_PATH)

    def default_image(self) -> str:
        return DEFAULT_PIPELOCK_IMAGE

    def render_config(self, spec: ProxySpec) -> str:
        return render_pipelock_config(spec)

    def shape(self) -> SidecarShape:
        return SidecarShape(env=(("SENTRY_DSN", ""),))

    def command(self) -> tuple[str, ...]:
        return ("run", "--config", CONFIG_PATH, "--listen", f"0.0.0.0:{PROXY_PORT}")

    def readiness(self, address: str) -> Readiness:
        return Readiness(url=f"http://{address}:{PROXY_PORT}/health", status=200, via_proxy=False)

    def read_events(self, log: str) -> list[EgressEvent]:
        return read_pipelock_log(log)

    def refusal(self, spec: ProxySpec) -> str | None:
        return pipelock_refusal(spec)

    def live_reload(self) -> LiveReload:
        # Pipelock 2.3 watches its configuration's folder and reloads a changed
        # file by itself (and on SIGHUP), swapping its scanner while open tunnels
        # go on; in strict mode it refuses a reload that widens trusted_domains,
        # which an approval never touches (approved hosts go to api_allowlist).
        # Its image has no shell: the file is copied over, its log says the rest.
        return LiveReload(file_path=CONFIG_PATH, logged='"event":"config_reload"',
                          refused=("config reload failed", '"method":"CONFIG_RELOAD"'))  # fmt: skip
