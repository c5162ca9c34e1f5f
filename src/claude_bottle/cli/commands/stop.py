"""claude-bottle stop NAME|CONTAINER|--all: end sessions cleanly.

A live session is asked to end (SIGTERM to its owner, which tears down in
order); one whose owner is gone is removed directly."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import time
from typing import Any

from claude_bottle.console import info
from claude_bottle.engine.select import locate
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.tracking import labels as L
from claude_bottle.tracking.inventory import find_sessions, remove_objects, running_bottles
from claude_bottle.tracking.owner import owner_alive
from claude_bottle.tracking.pool import claimer_of

STOP_SECONDS = 30


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="stop bottles by agent or container name")
    p.add_argument("target", nargs="?", help="agent name or container name")
    p.add_argument("--all", action="store_true", help="stop every running bottle")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.target) == bool(args.all):
        raise UsageError("name an agent or a container, or pass --all")
    engine = locate(args.settings)
    wanted = {
        b["session"] for b in running_bottles(engine)
        if args.all or args.target in (b["agent"], b["container"])
    }  # fmt: skip
    if not wanted:
        info(f"no running bottle matches '{args.target}'" if args.target else "no bottles running")
        return 0 if args.all else 1
    sessions = {sid: objs for sid, objs in find_sessions(engine).items() if sid in wanted}
    # A warm pool's bottle is its keeper's until claimed (`pool NAME --stop` ends
    # those), then its claimer's, whom its labels do not name.
    for sid, objs in list(sessions.items()):
        claimer = claimer_of(args.paths.state, sid)
        if claimer is not None:
            objs.owner = claimer
        elif any(found.labels.get(L.POOL) for found in objs.objects):
            del sessions[sid]
            wanted.discard(sid)
    if not wanted:
        info("only a warm pool's ready bottles match; end them with: claude-bottle pool NAME --stop")
        return 0 if args.all else 1
    here = socket.gethostname()
    for objs in sessions.values():
        if objs.owner.host != here:
            # Its owner runs on another machine sharing this engine: only it can
            # end the session in order (and bring the work back).
            raise ClaudeBottleError(
                f"session {objs.session_id} belongs to a process on {objs.owner.host}; stop it there"
            )
    for objs in sessions.values():
        if owner_alive(objs.owner) and objs.owner.pid > 0:
            os.kill(objs.owner.pid, signal.SIGTERM)
        else:
            remove_objects(engine, objs)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline:
        left = set(find_sessions(engine)) & wanted
        if not left:
            info(f"stopped {len(wanted)} session(s)")
            return 0
        time.sleep(0.2)
    raise ClaudeBottleError(f"sessions still running after {STOP_SECONDS}s: {', '.join(sorted(left))}")
