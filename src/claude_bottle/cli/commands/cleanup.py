"""claude-bottle cleanup: remove what sessions left behind when their owner died
(kill -9, a crash). Live sessions and anything not labelled by claude-bottle are
never touched. `--label KEY=VALUE` narrows it to sessions carrying that label
(set with CLAUDE_BOTTLE_LABELS), so a CI job cleans up after itself only."""

from __future__ import annotations

import argparse
from typing import Any

from claude_bottle.console import info
from claude_bottle.engine.select import locate
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.tracking.inventory import find_sessions, orphaned, remove_objects
from claude_bottle.tracking.pool import claimant_alive


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="remove what dead sessions left behind")
    p.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    p.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only sessions carrying this label (repeatable: all must match)",
    )
    p.add_argument("--session", metavar="ID", help="only this session's leftovers")
    p.set_defaults(handler=run)


def label_filters(given: list[str]) -> tuple[str, ...]:
    """KEY=VALUE pairs for the engine's label filter (pure)."""
    for label in given:
        key, sep, _ = label.partition("=")
        if not sep or not key or "," in label:
            raise UsageError(f"--label '{label}' is not KEY=VALUE")
    return tuple(given)


def run(args: argparse.Namespace) -> int:
    only = label_filters(args.label)
    engine = locate(args.settings)
    # A warm pool's bottle names its keeper as owner; once claimed, it is its claimer's.
    dead = [objs for objs in orphaned(find_sessions(engine, args.session, only=only))
            if not claimant_alive(args.paths.state, objs.session_id)]  # fmt: skip
    if not dead:
        info("nothing to clean up")
        return 0
    errors: list[str] = []
    for objs in dead:
        what = ", ".join(objs.names)
        if args.dry_run:
            info(f"would remove session {objs.session_id}: {what}")
            continue
        errors += remove_objects(engine, objs)
        info(f"removed session {objs.session_id}: {what}")
    if errors:
        raise ClaudeBottleError("some objects could not be removed: " + "; ".join(errors))
    return 0
