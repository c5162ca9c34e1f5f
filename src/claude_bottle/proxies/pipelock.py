"""Pipelock, the optional egress proxy (`egress.proxy: "pipelock"`).

Its configuration is generated here (pure) from Pipelock's documented keys,
never from its shipped presets (those carry a third party's error-reporting
DSN; Sentry is switched off). The document is JSON, which is YAML, so no YAML
library is needed and what is written is exactly what is tested.

Pipelock lets a CONNECT reach any port of an allowed host, so bottles using it
keep the floor under it (bottle/floor.py). Its image is not built here: it is pulled
(or loaded by the user) under the pinned tag in pipelock_image.py.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlsplit

from claude_bottle.proxies.base import ConfigDelivery, ProxyBackend, ProxySpec, Readiness, SidecarShape
from claude_bottle.proxies.events import (
    HOST_NOT_ALLOWED,
    PRIVATE_ADDRESS,
    SECRET_IN_REQUEST,
    SNI_NOT_ALLOWED,
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
        # Admitted past the private-address guard by name only; the guard stays on.
        config["trusted_domains"] = list(spec.internal)
    return config


def render_pipelock_config(spec: ProxySpec) -> str:
    return json.dumps(pipelock_config(spec), indent=2) + "\n"


# Pipelock's events for traffic it let through: fetches, CONNECT tunnels, plain HTTP.
ALLOWED_EVENTS = frozenset({"allowed", "tunnel_open", "forward_http"})
# Every refusal, whatever its scanner: the host allowlist and SSRF guard
# ("blocked"), and body and header DLP, which Pipelock logs under their own names.
REFUSED_EVENTS = frozenset({"blocked", "body_dlp", "header_dlp", "url_dlp", "dlp"})


def _target(event: dict[str, Any]) -> tuple[str, int | None]:
    target = event.get("target")
    if isinstance(target, str) and target:
        host, _, port = target.rpartition(":") if not target.endswith("]") else (target, "", "")
        return host.strip("[]").lower(), int(port) if port.isdigit() else None
    url = event.get("url")
    if isinstance(url, str) and url:
        try:
            parts = urlsplit(url)
            return (parts.hostname or url).lower(), parts.port
        except ValueError:
            return url.lower(), None
    return "(unknown)", None


def _reason(event: dict[str, Any]) -> str:
    kind, text = event.get("event"), str(event.get("reason", ""))
    if kind in ("body_dlp", "header_dlp", "url_dlp", "dlp") or event.get("scanner") == "dlp":
        return SECRET_IN_REQUEST
    lowered = text.lower()
    if "allowlist" in lowered:
        return HOST_NOT_ALLOWED
    if "ssrf" in lowered or "private" in lowered:
        return PRIVATE_ADDRESS
    if "sni" in lowered:
        return SNI_NOT_ALLOWED
    return text or "refused"


def read_pipelock_log(text: str) -> list[EgressEvent]:
    events = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind in REFUSED_EVENTS or event.get("action") == "block":
            host, port = _target(event)
            events.append(EgressEvent(host, port, False, _reason(event), str(event.get("method", ""))))
        elif kind in ALLOWED_EVENTS:
            host, port = _target(event)
            events.append(EgressEvent(host, port, True, method=str(event.get("method", ""))))
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
