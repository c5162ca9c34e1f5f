"""claude-bottle harvest NAME|CONTAINER: take a running bottle's work out now
(a new branch, or saved files); the session goes on."""

from __future__ import annotations

import argparse
from typing import Any

from claude_bottle import agent_image
from claude_bottle.bottle.keeper import WorkTarget, harvest
from claude_bottle.console import block, info
from claude_bottle.engine.select import locate
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.tracking.inventory import find_bottle
from claude_bottle.workspace.outflow import Budget
from claude_bottle.workspace.session_folders import SessionFolder
from claude_bottle.workspace.source import WorkspaceSource


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="bring a running bottle's work back now; the session goes on")
    p.add_argument("target", help="agent name or container name")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    engine = locate(args.settings)
    bottle = find_bottle(engine, args.target)
    folder = SessionFolder.for_session(bottle["session"], args.paths)
    record = folder.read()
    if not record.get("workspace"):
        raise ClaudeBottleError(
            f"session {bottle['session']} has no workspace (it was not started with --cwd)"
        )
    source = WorkspaceSource.from_json(record["workspace"])
    # Sessions recorded before the home was kept ran in the image's own.
    home = str(record.get("container_home") or agent_image.HOME)
    target = WorkTarget(bottle["session"], bottle["agent"], str(record["workspace_path"]), source, home)
    label = f"harvest-{sum(1 for p in folder.path.glob('harvest-*')) + 1}"
    result = harvest(engine, bottle["container"], target, folder, label, Budget.from_settings(args.settings))
    info(f"harvested {bottle['container']} (session {bottle['session']} goes on)")
    block("\n".join(f"  {line}" for line in result.summary_lines(source.folder)))
    return 0
