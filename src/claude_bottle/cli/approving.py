"""Approving a refused host, as `allow` and `egress --follow` both do it: for
the rest of the session, or also in the manifest the session came from (the
diff shown first, the new content trusted in the same step)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from claude_bottle.bottle.approval import Outcome, Scope, approvable, approve
from claude_bottle.console import block, info
from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.manifest.edit import plan_allow_always, write_trusted
from claude_bottle.paths import HostPaths
from claude_bottle.tracking.inventory import find_sidecar
from claude_bottle.workspace.record import SessionRecord
from claude_bottle.workspace.session_folders import SessionFolder


def approve_in_bottle(
    engine: Engine,
    bottle: dict[str, str],
    host: str,
    *,
    scope: Scope,
    via: str,
    paths: HostPaths,
    confirm: Callable[[str], bool] | None = None,
) -> Outcome | None:
    """Approve `host` in a running bottle (`find_bottle`'s row). With scope
    "always", the manifest's diff is shown first and, when `confirm` is given,
    asked about; None when the answer was no."""
    host = approvable(host)
    session = bottle["session"]
    sidecar, _ = find_sidecar(engine, session)
    folder = SessionFolder.for_session(session, paths)
    change = None
    if scope == "always":
        started = SessionRecord.in_folder(folder.path).of_kind("session")
        if not started:
            raise ClaudeBottleError(
                f"session {session} has no record on this machine (approve it where it runs)"
            )
        data = started[0]["data"]
        change = plan_allow_always(str(data["manifest"]["path"]), str(data["bottle"]), host, paths)
        shown = change.diff
        block(shown.rstrip("\n") if shown else f"{change.path}: {host} is already in it")
        if confirm is not None and not confirm(
            "write this change to the manifest and trust its new content?"
        ):
            info("nothing approved")
            return None
        if shown:
            write_trusted(change, paths)
    changed = change.to_json() if change is not None and change.diff else None
    outcome = approve(engine, sidecar, folder, host, scope=scope, via=via, manifest_change=changed)
    where = f"{bottle['container']} (session {session})"
    if outcome.already:
        info(
            f"{host} was already allowed in {where}" + ("; the manifest now allows it too" if change else "")
        )
    else:
        info(f"allowed {host} in {where} for the rest of the session"
             + (" and in its manifest (trusted)" if change and change.diff else "")
             + f"; the sidecar took it in {outcome.seconds:.2f} s")  # fmt: skip
    sys.stderr.flush()
    return outcome
