"""What the agent tried to reach, in one model shared by every proxy backend.

Each backend turns its own audit log into `EgressEvent`s; the summary, the
session folder's `egress.jsonl` and `ps` know nothing of which proxy ran (pure).

A request ends in one of three ways: refused by the wall (`allowed` false, with
the `reason`), allowed and answered by the host, or allowed but failed upstream
(`failure`: the name did not resolve, the host refused or never answered the
connection, ...), each with its own words in the summary and `egress`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from claude_bottle.secret_shapes import redact_secrets

# The reasons a request is refused, the same words for every backend.
HOST_NOT_ALLOWED = "host_not_allowed"
PORT_NOT_ALLOWED = "port_not_allowed"
PRIVATE_ADDRESS = "private_address"
METADATA_ADDRESS = "metadata_address"
SECRET_IN_REQUEST = "secret_in_request"  # noqa: S105 (a reason, not a secret)
SCHEME_NOT_ALLOWED = "scheme_not_allowed"
SNI_NOT_ALLOWED = "sni_not_allowed"
SNI_UNVERIFIED = "sni_unverified"
BODY_NOT_SCANNED = "body_not_scanned"
PROXY_ADMIN = "proxy_admin"
CREDENTIAL_HOST = "credential_host"

# Why an allowed request got no answer from its host (the proxy let it through).
NAME_NOT_RESOLVED = "name_not_resolved"
CONNECTION_REFUSED = "connection_refused"
CONNECTION_FAILED = "connection_failed"
HOST_UNREACHABLE = "host_unreachable"
UPSTREAM_TIMEOUT = "upstream_timeout"
TLS_FAILED = "tls_failed"
UPSTREAM_ERROR = "upstream_error"

FAILURE_TEXT = {
    NAME_NOT_RESOLVED: "the name did not resolve to an address the proxy could use",
    CONNECTION_REFUSED: "the host refused the connection",
    CONNECTION_FAILED: "the connection to the host failed (refused, unreachable or timed out)",
    HOST_UNREACHABLE: "no route to the host",
    UPSTREAM_TIMEOUT: "the host did not answer in time",
    TLS_FAILED: "the TLS handshake with the host failed",
    UPSTREAM_ERROR: "the host's answer could not be read",
}

REASON_TEXT = {
    HOST_NOT_ALLOWED: "host not in the allowlist",
    PORT_NOT_ALLOWED: "port not allowed",
    PRIVATE_ADDRESS: "resolves to a private, loopback or link-local address",
    METADATA_ADDRESS: "the cloud metadata address",
    SECRET_IN_REQUEST: "a secret-shaped token in a plain-HTTP request",
    SCHEME_NOT_ALLOWED: "a scheme other than http or a CONNECT tunnel",
    SNI_NOT_ALLOWED: "TLS server name not in the allowlist",
    SNI_UNVERIFIED: "no TLS server name to check (the client sent none in time, or a malformed one)",
    BODY_NOT_SCANNED: "a plain-HTTP request body the proxy cannot scan (over its size limit, or compressed)",
    PROXY_ADMIN: "the proxy's own admin interface",
    CREDENTIAL_HOST: "the sidecar holds its credential: reached only through the sidecar's port for it",
}


@dataclass(frozen=True)
class EgressEvent:
    """One request the sidecar let through (`reason` empty) or refused. A
    secret-shaped token in the host name (`ghp_<36 characters>.github.com`: data
    sent out in a DNS name) is redacted as the event is made, so the summary,
    egress.jsonl, `sessions` and `egress` never show or store it."""

    host: str
    port: int | None
    allowed: bool
    reason: str = ""
    method: str = ""
    ts: float | None = None
    warning: str = ""  # allowed, but a DLP rule in "warn" mode matched
    failure: str = ""  # allowed, but the host was not reached or did not answer (FAILURE_TEXT)

    @property
    def outcome(self) -> str:
        """ "refused" (by the wall), "failed" (allowed, failed upstream) or "answered"."""
        if not self.allowed:
            return "refused"
        return "failed" if self.failure else "answered"

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", redact_secrets(self.host))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @property
    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port in (None, 80, 443) else f"{host}:{self.port}"


@dataclass(frozen=True)
class EgressReport:
    allowed: tuple[tuple[str, int], ...]  # (target, count), most first
    refused: tuple[tuple[str, int], ...]
    reasons: tuple[tuple[str, str, int], ...]  # (target, reason, count)
    warnings: tuple[tuple[str, str, int], ...]
    failed: tuple[tuple[str, str, int], ...] = ()  # (target, failure, count): allowed, not answered

    @property
    def refused_hosts(self) -> tuple[str, ...]:
        return tuple(target for target, _ in self.refused)


def summarize(events: Iterable[EgressEvent]) -> EgressReport:
    allowed: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    reasons: Counter[tuple[str, str]] = Counter()
    warnings: Counter[tuple[str, str]] = Counter()
    failed: Counter[tuple[str, str]] = Counter()
    for event in events:
        if event.allowed and event.failure:
            failed[(event.target, event.failure)] += 1
        elif event.allowed:
            allowed[event.target] += 1
            if event.warning:
                warnings[(event.target, event.warning)] += 1
        else:
            refused[event.target] += 1
            reasons[(event.target, event.reason or "refused")] += 1
    return EgressReport(
        allowed=tuple(allowed.most_common()),
        refused=tuple(refused.most_common()),
        reasons=tuple((t, r, n) for (t, r), n in reasons.most_common()),
        warnings=tuple((t, r, n) for (t, r), n in warnings.most_common()),
        failed=tuple((t, r, n) for (t, r), n in failed.most_common()),
    )


def _fmt(counts: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{host} (x{n})" if n > 1 else host for host, n in counts)


def _why(reason: str) -> str:
    text = REASON_TEXT.get(reason) or FAILURE_TEXT.get(reason)
    return f"{reason} ({text})" if text else reason


def render_report(report: EgressReport) -> list[str]:
    lines = [f"allowed : {_fmt(report.allowed) or '(nothing)'}"]
    # Allowed by the wall, but not answered: each with why, so a run whose only
    # host was down says so instead of "allowed : (nothing)".
    for i, (target, failure, n) in enumerate(report.failed):
        lines.append(("failed  : " if i == 0 else " " * 10) + f"{target}: {_why(failure)}"
                     + (f" x{n}" if n > 1 else ""))  # fmt: skip
    lines.append(f"refused : {_fmt(report.refused) or '(nothing)'}")
    for target, reason, n in report.reasons:
        lines.append(f"          {target}: {_why(reason)}" + (f" x{n}" if n > 1 else ""))
    for target, reason, n in report.warnings:
        lines.append(f"warned  : {target}: {_why(reason)}" + (f" x{n}" if n > 1 else ""))
    return lines


def events_jsonl(events: Iterable[EgressEvent]) -> str:
    return "".join(event.to_json() + "\n" for event in events)


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def event_line(event: EgressEvent) -> str:
    """One request as a line for `egress`: time, verdict, method and target, why (pure)."""
    when = time.strftime("%H:%M:%S", time.localtime(event.ts)) if event.ts is not None else "--:--:--"
    verdict = {"refused": "refused", "failed": "failed ", "answered": "allowed"}[event.outcome]
    what = f"{event.method} {event.target}" if event.method else event.target
    if not event.allowed:
        why = _why(event.reason)
    elif event.failure:
        why = _why(event.failure)
    else:
        why = f"warned: {_why(event.warning)}" if event.warning else ""
    return f"{when}  {verdict}  {what}" + (f"  {why}" if why else "")
