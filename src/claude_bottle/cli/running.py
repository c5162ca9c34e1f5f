"""The launch as a person sees it: the question before, the summary after, and the
two ways in (an interactive session for `start`, a command for `run`)."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from claude_bottle.console import block, info
from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.paths import HostPaths
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.plan.pool import WARM
from claude_bottle.proxies.events import format_duration, render_report, summarize
from claude_bottle.session.launch import Session, run_session
from claude_bottle.session.warm import claim_ready
from claude_bottle.settings import Settings


def print_summary(session: Session, timings: bool = False) -> None:
    report = summarize(session.sidecar.events)
    marks = session.clock.marks
    elapsed = format_duration(marks["session"] - marks.get("launch", marks["session"]))
    removed = (
        "its agent was removed; its sidecar and network follow in the background"
        if session.rest_follows
        else "everything it made was removed"
    )
    lines = [
        f"session {session.plan.session_id} of {session.plan.agent.name} ended after {elapsed}; {removed}"
    ]
    lines += [f"  {line}" for line in render_report(report)]
    if session.evidence is not None:
        lines += [f"  {line}" for line in approval_lines(session.evidence.approvals())]
    if session.keeper.result is not None and session.plan.cwd is not None:
        lines += [f"  {line}" for line in session.keeper.result.summary_lines(session.plan.cwd)]
    if session.keeper.transcripts is not None:
        lines += [f"  limit   : {note}" for note in session.keeper.transcripts.notes]
    if session.keeper.folder is not None:
        lines.append(f"  saved   : {session.keeper.folder.path} (transcript, egress log)")
    if session.evidence is not None and session.record_head:
        lines.append(f"  record  : {session.evidence.record.path} (head sha256:{session.record_head[:16]}; "
                     f"check: claude-bottle sessions verify {session.plan.session_id})")  # fmt: skip
    if timings:
        lines.append("  timings : " + ", ".join(f"{p} {d:.3f}s" for p, d in session.clock.durations()))
    info(lines[0])
    block("\n".join(lines[1:]))


def approval_lines(approvals: list[dict[str, Any]]) -> list[str]:
    """What was approved during the session, when and by whom (pure)."""
    lines = []
    for i, a in enumerate(approvals):
        by = a.get("by") or {}
        scope = "and in the manifest" if a.get("scope") == "always" else "for this session"
        when = _local_time(str(a.get("at", "")))
        lines.append(("approved: " if i == 0 else " " * 10)
                     + f"{a.get('host')} {scope}, at {when} by {by.get('user')}@{by.get('host')} "
                       f"({by.get('via')})")  # fmt: skip
    return lines


def _local_time(at: str) -> str:
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return at


def confirm(assume_yes: bool) -> bool:
    """Ask on the controlling terminal (not stdin, which a script may own)."""
    if assume_yes:
        return True
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise ClaudeBottleError("no terminal to ask on; pass --yes to launch without confirmation") from None
    with os.fdopen(fd, "r+b", buffering=0) as tty:
        tty.write(b"claude-bottle: launch this agent? [y/N] ")
        reply = tty.readline().decode("utf-8", "replace").strip()
    return reply in ("y", "Y", "yes", "YES")


def launch_interactive(
    plan: LaunchPlan, engine: Engine, settings: Settings, paths: HostPaths, *, assume_yes: bool,
    timings: bool = False,
) -> int:  # fmt: skip
    if not confirm(assume_yes):
        info("aborted by user")
        return 0
    shown = plan.start
    plan, claimed = claim_ready(plan, paths, engine)
    if claimed is None and shown[0] == WARM:
        info("the warm pool's ready bottles were taken meanwhile: starting cold")
    return run_session(plan, engine, tty=True, settings=settings, paths=paths,
                       on_end=lambda s: print_summary(s, timings), claimed=claimed)  # fmt: skip


def launch_command(
    plan: LaunchPlan, engine: Engine, settings: Settings, paths: HostPaths, *, summary: bool = True,
    timings: bool = False,
) -> int:  # fmt: skip
    plan, claimed = claim_ready(plan, paths, engine)
    if claimed is not None and (summary or timings):
        info(f"from the warm pool: container {plan.container}")
    return run_session(
        plan, engine, tty=False, settings=settings, paths=paths,
        on_end=(lambda s: print_summary(s, timings)) if summary or timings else None, claimed=claimed,
    )  # fmt: skip
