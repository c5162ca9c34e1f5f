"""claude-bottle shell NAME [-- COMMAND ...]: a shell (or COMMAND) as the agent's
user in a running bottle, in its workspace, for a look around. It goes out only
through the bottle's proxy, like the agent."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from claude_bottle import agent_image
from claude_bottle.engine.select import locate
from claude_bottle.tracking.inventory import find_bottle

AGENT_USER = agent_image.USER


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="open a shell as the agent's user in a running bottle")
    p.add_argument("target", help="agent name or container name")
    # COMMAND ARGS come after "--"; cli.main splits them off before parsing.
    p.set_defaults(command=[], takes_command=True, handler=run)


def shell_argv(command: list[str]) -> tuple[str, ...]:
    """What runs (pure): a login shell unless a command is named. The image's
    working directory is the workspace."""
    return tuple(command or ["bash", "-l"])


def run(args: argparse.Namespace) -> int:
    engine = locate(args.settings)
    bottle = find_bottle(engine, args.target)
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    return engine.attach(bottle["container"], shell_argv(list(args.command)), tty=tty, user=AGENT_USER)
