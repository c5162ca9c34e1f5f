"""The sidecar's Pipelock configuration, generated from the bottle (pure).

Written from Pipelock's documented keys, never from its shipped presets (those
carry a third party's error-reporting DSN; Sentry is switched off here). The
document is JSON, which is YAML, so no YAML library is needed and what is
written is exactly what is tested.
"""

from __future__ import annotations

import json
from typing import Any

from claude_bottle.manifest import Egress

PROXY_PORT = 8888
# Off the agent-facing listener: /metrics and /stats answer only inside the sidecar.
METRICS_LISTEN = "127.0.0.1:9464"
# Pipelock's defaults (60 requests a minute per registrable domain, 300 s per
# tunnel, 120 s idle) cut a long agent session's API streams; these do not.
REQUESTS_PER_MINUTE = 100_000
MAX_TUNNEL_SECONDS = 24 * 3600
IDLE_TIMEOUT_SECONDS = 3600


def pipelock_config(egress: Egress) -> dict[str, Any]:
    hosts = list(egress.all_hosts)
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
            "sni_verification": True,
        },
        "metrics_listen": METRICS_LISTEN,
        "request_body_scanning": {
            "enabled": egress.dlp != "off",
            "action": "block" if egress.dlp == "block" else "warn",
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
    if egress.internal:
        # Admitted past the private-address guard by name only; the guard stays on.
        config["trusted_domains"] = list(egress.internal)
    return config


def render_pipelock_config(egress: Egress) -> str:
    return json.dumps(pipelock_config(egress), indent=2) + "\n"
