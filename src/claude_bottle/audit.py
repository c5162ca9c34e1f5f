"""What the agent tried to reach: read from the sidecar's JSON audit log (pure)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

# Pipelock's events for traffic it let through: fetches, CONNECT tunnels, plain HTTP.
ALLOWED_EVENTS = frozenset({"allowed", "tunnel_open", "forward_http"})


@dataclass(frozen=True)
class EgressReport:
    allowed: tuple[tuple[str, int], ...]
    blocked: tuple[tuple[str, int], ...]
    reasons: tuple[tuple[str, str], ...]  # (host, first reason seen)


def _host(event: dict[str, object]) -> str:
    target = event.get("target")
    if isinstance(target, str) and target:
        host = target.rsplit(":", 1)[0] if not target.endswith("]") else target
        return host.strip("[]").lower()
    url = event.get("url")
    if isinstance(url, str) and url:
        return (urlsplit(url).hostname or url).lower()
    return "(unknown)"


def read_audit_log(text: str) -> EgressReport:
    allowed: Counter[str] = Counter()
    blocked: Counter[str] = Counter()
    reasons: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        kind = event.get("event")
        if kind == "blocked":
            host = _host(event)
            blocked[host] += 1
            reasons.setdefault(host, str(event.get("reason", "")))
        elif kind in ALLOWED_EVENTS:
            allowed[_host(event)] += 1
    return EgressReport(
        allowed=tuple(allowed.most_common()),
        blocked=tuple(blocked.most_common()),
        reasons=tuple(reasons.items()),
    )


def _fmt(counts: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{host} (x{n})" if n > 1 else host for host, n in counts)


def render_report(report: EgressReport) -> list[str]:
    lines = [f"allowed : {_fmt(report.allowed) or '(nothing)'}"]
    if report.blocked:
        lines.append(f"blocked : {_fmt(report.blocked)}")
        lines += [f"          {host}: {reason}" for host, reason in report.reasons if reason]
    else:
        lines.append("blocked : (nothing)")
    return lines


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
