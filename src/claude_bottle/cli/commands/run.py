"""claude-bottle run NAME [-- COMMAND ...]: the bottle lifecycle with no question
and no terminal; runs COMMAND (or `claude -p` on standard input) and exits with
its status. For scripts, CI and parallel agents."""

from __future__ import annotations

import argparse
from typing import Any

from claude_bottle.cli.options import add_manifest_option, manifest_from_options, plan_from_options
from claude_bottle.cli.running import launch_command
from claude_bottle.console import info
from claude_bottle.engine.api import EngineTarget
from claude_bottle.engine.select import chosen, locate
from claude_bottle.manifest.trust import require_trust


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(
        name, help="run a command (default: claude -p on stdin) in a fresh bottle, then remove it"
    )
    p.add_argument("name", help="agent name defined in claude-bottle.json")
    # COMMAND ARGS come after "--"; cli.main splits them off before parsing.
    p.set_defaults(command=[], takes_command=True)
    p.add_argument("--cwd", action="store_true", help="copy the current folder into the workspace")
    p.add_argument("--quiet", "-q", action="store_true", help="no end-of-session summary")
    p.add_argument("--timings", action="store_true", help="show how long each phase took")
    add_manifest_option(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    manifest = manifest_from_options(args)
    require_trust(manifest, args.paths)  # nobody to ask: an untrusted manifest is refused (exit 3)
    # No name listing: a name taken meanwhile is retried with the next suffix anyway.
    plan = plan_from_options(args, manifest, None, interactive=False, command=tuple(command) or None,
                             target=EngineTarget(chosen(args.settings)))  # fmt: skip
    plan.refuse_host_file_problems()
    for warning in plan.warnings:
        info(f"warning: {warning}")
    engine = locate(args.settings)
    plan = plan.on(engine.target())
    return launch_command(
        plan, engine, args.settings, args.paths, summary=not args.quiet, timings=args.timings
    )
