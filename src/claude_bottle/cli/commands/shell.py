"""claude-bottle shell NAME [-- COMMAND ...]: a shell (or COMMAND) as the agent's
user in a running bottle, in its workspace, for a look around. It goes out only
through the bottle's proxy, like the agent."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from claude_bottle import agent_image
from claude_bottle.engine.client import Engine
from claude_bottle.engine.inventory import find_bottle

AGENT_USER = agent_image.USER


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="open a shell as the agent's user in a running bottle")
    p.add_argument("target", help="agent name or container name")
    # COMMAND ARGS come after "--"; cli.main splits them off before parsing.
    p.set_defaults(command=[], takes_command=True, handler=run)


def shell_args(container: str, command: list[str], tty: bool) -> tuple[str, ...]:
    """`docker exec` arguments (pure): the image's working directory is the workspace."""
    argv = command or ["bash", "-l"]
    return ("exec", "-it" if tty else "-i", "--user", AGENT_USER, container, *argv)


def run(args: argparse.Namespace) -> int:
    engine = Engine.locate()
    bottle = find_bottle(engine, args.target)
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    return engine.attach(*shell_args(bottle["container"], list(args.command), tty))
