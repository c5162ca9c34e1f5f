"""Options and helpers that several commands share: the manifest option, and the
plan a command builds from its arguments."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from claude_bottle.engine.api import Engine, EngineTarget
from claude_bottle.engine.select import planned_target
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.manifest.locate import load_manifest
from claude_bottle.manifest.model import Manifest
from claude_bottle.plan.names import new_session_id
from claude_bottle.plan.plan import LaunchPlan, Options, build_plan


def add_manifest_option(p: Any) -> None:
    p.add_argument(
        "--manifest",
        metavar="PATH",
        help="manifest file (default: $CLAUDE_BOTTLE_MANIFEST, the nearest "
        "claude-bottle.json, ~/.config/claude-bottle/claude-bottle.json)",
    )


def taken_container_names(engine: Engine | None) -> frozenset[str]:
    """Existing container names, so the plan can pick a free one (empty without
    an engine, or when it would not say: a name taken is retried with the next)."""
    if engine is None:
        return frozenset()
    try:
        return frozenset(found.name for found in engine.find([], kinds=("container",)))
    except ClaudeBottleError:
        return frozenset()


def manifest_from_options(args: argparse.Namespace) -> Manifest:
    """The manifest that applies: --manifest, CLAUDE_BOTTLE_MANIFEST, the nearest
    one, the user's, else the built-in default."""
    return load_manifest(Path.cwd(), args.paths, args.manifest, args.settings.manifest)


def plan_from_options(
    args: argparse.Namespace,
    manifest: Manifest,
    engine: Engine | None,
    *,
    interactive: bool,
    command: tuple[str, ...] | None = None,
    target: EngineTarget | None = None,
) -> LaunchPlan:
    """The one preparation `start` and `run` share: the plan of the command's
    arguments, with the host files it lets in resolved (the only list the launch
    reads). `target`: where it runs (else the engine's own, else what is known
    without asking it)."""
    cwd = Path.cwd()
    options = Options(
        agent=args.name,
        cwd=cwd if args.cwd else None,
        remote_control=getattr(args, "remote_control", False),
        command=command,
        interactive=interactive,
    )
    if target is None:
        target = engine.target() if engine is not None else planned_target(args.settings)
    return build_plan(
        manifest, options, os.environ, new_session_id(), taken_container_names(engine),
        disk_limit_problem=disk_limit_problem(engine), target=target,
        settings=args.settings, paths=args.paths,
    )  # fmt: skip


def disk_limit_problem(engine: Engine | None) -> str | None:
    """Why the engine cannot limit a bottle's disk, for the plan (None without an engine)."""
    if engine is None:
        return None
    try:
        return engine.storage_limit_problem()
    except ClaudeBottleError:
        return None
