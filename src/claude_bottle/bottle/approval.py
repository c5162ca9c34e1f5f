"""Approving a host while a bottle runs, from the engine's side only.

The running sidecar is given a new configuration: the one its session started
with (kept in the session's record), with the approved hosts added to its
allowlist by the same rules (proxies/base.py `ProxySpec.approving`), so the
wall's order stands: the host rule before any address rule, and the addresses
no name may reach refused even so. An approved name that resolves to a
private address is refused like any other allowed name that does; approval is
for ordinary hosts (egress.allow), never for egress.internal ones, whose
addresses the floor under the proxy opened when the bottle started.

Nothing inside the bottle can approve: the new configuration goes in through
the engine (an exec into the sidecar, or a copy into it), which the agent has
no way to reach, and the proxy takes no configuration from its clients (its
admin interface is refused to every client). Each approval is an entry of the
session's record, written under the record's lock, so two approvals at once
cannot lose each other's host."""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from typing import Any, Literal

from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.hostnames import host_pattern_problem, normalize_host
from claude_bottle.proxies import backend_for
from claude_bottle.proxies.base import LiveReload, ProxyBackend, ProxySpec
from claude_bottle.workspace.record import Appender, SessionRecord, by_whom
from claude_bottle.workspace.session_folders import SessionFolder

Scope = Literal["session", "always"]
LOG_WAIT = 5.0  # seconds a proxy that says it reloaded in its log has to say so
START_WAIT = 10.0  # seconds a bottle just started has to write its record's first entry


class ApprovalError(ClaudeBottleError):
    pass


@dataclass(frozen=True)
class Started:
    """What an approval needs of the session's start, read from its record."""

    session: str
    bottle: str
    proxy: str
    spec: ProxySpec
    manifest: dict[str, Any]

    @classmethod
    def read(cls, appender: Appender) -> Started:
        starts = [e for e in appender.entries() if e.get("kind") == "session"]
        if not starts:
            raise ApprovalError("the session's record has no start yet (is the bottle still starting?)")
        data = starts[0]["data"]
        proxy = data.get("proxy") if isinstance(data.get("proxy"), dict) else None
        if proxy is None:
            raise ApprovalError(
                "this session's record does not say how its proxy was configured (it was started by an "
                "older claude-bottle, or on another machine): its wall cannot be changed while it runs"
            )
        return cls(str(data["session"]), str(data["bottle"]), str(proxy["name"]),
                   ProxySpec.from_json(proxy["spec"]), dict(data.get("manifest") or {}))  # fmt: skip


def approvable(host: str) -> str:
    """The host as it is approved (lower case, no trailing dot), or UsageError."""
    name = normalize_host(host.strip()) if host.strip() else host
    problem = host_pattern_problem(name)
    if problem:
        raise UsageError(f"'{host}' cannot be approved: {problem}")
    return name


def approved_hosts(appender: Appender) -> tuple[str, ...]:
    return tuple(str(e["data"]["host"]) for e in appender.entries() if e.get("kind") == "approval")


@dataclass(frozen=True)
class Outcome:
    host: str
    already: bool  # allowed before: nothing changed in the sidecar
    seconds: float  # how long the sidecar took to take it


def approve(
    engine: Engine,
    sidecar: str,
    folder: SessionFolder,
    host: str,
    *,
    scope: Scope = "session",
    via: str = "allow",
    manifest_change: dict[str, str] | None = None,
) -> Outcome:
    """Let `host` through the running sidecar for the rest of the session, and
    record it (with `manifest_change` when the manifest was changed too)."""
    host = approvable(host)
    record = SessionRecord.in_folder(folder.path)
    if not record.exists:
        raise ApprovalError(
            f"session {folder.path.name} has no record on this machine (approve it where it runs)"
        )
    with record.transaction() as appender:
        started = Started.read(appender)
        earlier = approved_hosts(appender)
        proxy = backend_for(started.proxy)
        already = host in started.spec.allow or host in started.spec.internal or host in earlier
        seconds = 0.0
        if not already:
            spec = started.spec.approving((*earlier, host))
            seconds = reload_sidecar(engine, sidecar, proxy, spec)
        if not already or scope == "always":
            entry: dict[str, Any] = {"host": host, "scope": scope, "by": by_whom(via), "proxy": started.proxy}
            if manifest_change:
                entry["manifest"] = manifest_change
            appender.extend([("approval", entry)])
    return Outcome(host, already, seconds)


def reload_sidecar(engine: Engine, sidecar: str, proxy: ProxyBackend, spec: ProxySpec) -> float:
    """Give the running sidecar the configuration of `spec`; how long it took."""
    reload = proxy.live_reload()
    if reload is None:
        raise ApprovalError(f"the {proxy.name} egress proxy cannot take a new allowlist while it runs")
    refusal = proxy.refusal(spec)
    if refusal:
        raise ApprovalError(refusal)
    config = proxy.render_config(spec)
    started = time.monotonic()
    if reload.script:
        _by_script(engine, sidecar, reload, config)
    else:
        _by_file(engine, sidecar, reload, config)
    return time.monotonic() - started


def _by_script(engine: Engine, sidecar: str, reload: LiveReload, config: str) -> None:
    result = engine.exec(sidecar, reload.script, stdin=config.encode())
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines or lines[-1] != reload.done:
        said = (result.stderr.strip() or result.stdout.strip() or "nothing").splitlines()[-1]
        raise ApprovalError(
            f"the egress sidecar did not take the new allowlist (exit {result.returncode}): {said}"
        )


def _file_tar(path: str, content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size, info.mode, info.mtime = len(content), 0o444, int(time.time())
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _by_file(engine: Engine, sidecar: str, reload: LiveReload, config: str) -> None:
    """Copy the file over the proxy's own; wait for its log to say it reloaded."""

    def said(log: str) -> tuple[int, int]:
        lines = log.splitlines()
        return (sum(reload.logged in line for line in lines),
                sum(any(word in line for word in reload.refused) for line in lines))  # fmt: skip

    before = said(engine.logs(sidecar))
    engine.copy_in(sidecar, "/", _file_tar(reload.file_path, config.encode()))
    deadline = time.monotonic() + LOG_WAIT
    while time.monotonic() < deadline:
        now = said(engine.logs(sidecar))
        if now[1] > before[1]:
            raise ApprovalError(
                "the egress sidecar refused the new allowlist; the running one stays (see its log)"
            )
        if now[0] > before[0]:
            return
        time.sleep(0.1)
    raise ApprovalError(f"the egress sidecar did not say it took the new allowlist within {LOG_WAIT:g} s")
