"""claude-bottle start NAME: show the preflight plan, ask, launch the bottle and
attach an interactive Claude Code session; everything is removed at the end."""

from __future__ import annotations

import argparse
from typing import Any

from claude_bottle.cli.options import add_manifest_option, manifest_from_options, plan_from_options
from claude_bottle.cli.terminal import ask
from claude_bottle.console import block, info
from claude_bottle.engine.api import Engine
from claude_bottle.engine.select import locate
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.manifest.inventory import inventory_lines
from claude_bottle.manifest.model import Manifest
from claude_bottle.manifest.trust import UntrustedManifest, distrust_reason, record_trust, trust_command
from claude_bottle.paths import HostPaths
from claude_bottle.plan.credentials import agent_custody
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.plan.render import render_plan, render_plan_json
from claude_bottle.session.warm import peek
from claude_bottle.settings import Settings


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="start an agent's bottle and attach an interactive session")
    p.add_argument("name", help="agent name defined in claude-bottle.json")
    p.add_argument("--cwd", action="store_true", help="copy the current folder into the bottle's workspace")
    p.add_argument("--remote-control", action="store_true", help="pass --remote-control to claude")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan and exit (also CLAUDE_BOTTLE_DRY_RUN=1)",
    )
    p.add_argument("--json", action="store_true", help="with --dry-run: print the plan as JSON")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before launching")
    p.add_argument("--timings", action="store_true", help="show how long each phase took")
    add_manifest_option(p)
    p.set_defaults(handler=run)


def dry_run_requested(args: argparse.Namespace) -> bool:
    return bool(args.dry_run) or args.settings.dry_run


def show_plan(plan: LaunchPlan, as_json: bool) -> None:
    if as_json:
        print(render_plan_json(plan))
    else:
        block("")
        block(render_plan(plan))
        block("")


def optional_engine(settings: Settings) -> Engine | None:
    try:
        return locate(settings)
    except ClaudeBottleError:
        return None


def trust_or_refuse(manifest: Manifest, assume_yes: bool, paths: HostPaths) -> bool:
    """For an untrusted manifest: show what it lets in and ask (in place of the
    plain confirmation); True when the user trusted it. --yes refuses instead."""
    reason = distrust_reason(manifest, paths)
    if reason is None:
        return False
    if assume_yes:
        raise UntrustedManifest(f"{reason}; review it, then run: {trust_command(manifest)}")
    lines = [f"  {line}" for line in inventory_lines(manifest, paths.home, agent_custody)]
    block("\n".join(["it lets into its bottles:", *lines]))
    info(reason)
    no_tty = f"no terminal to ask on; review it, then run: {trust_command(manifest)}"
    if not ask("trust this manifest, letting in everything listed above, and launch this agent?", no_tty):
        raise _Declined
    record_trust(manifest, paths)
    return True


class _Declined(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    dry_run = dry_run_requested(args)
    manifest = manifest_from_options(args)
    if args.yes and not dry_run:
        trust_or_refuse(manifest, True, args.paths)  # nobody will be asked: refuse before anything
    engine = optional_engine(args.settings) if dry_run else locate(args.settings)
    plan = peek(plan_from_options(args, manifest, engine, interactive=True), args.paths)
    show_plan(plan, args.json)
    if dry_run:
        reason = distrust_reason(manifest, args.paths)
        if reason:
            info(f"note: {reason}; to use it: {trust_command(manifest)}")
        info("dry-run requested; not starting container.")
        return 0
    plan.refuse_host_file_problems()
    try:
        just_trusted = trust_or_refuse(manifest, args.yes, args.paths)
    except _Declined:
        info("aborted by user")
        return 0
    from claude_bottle.cli.running import launch_interactive

    # Trusting it was the question; it is not asked twice.
    assume_yes = args.yes or just_trusted
    engine = engine or locate(args.settings)
    return launch_interactive(
        plan, engine, args.settings, args.paths, assume_yes=assume_yes, timings=args.timings
    )
