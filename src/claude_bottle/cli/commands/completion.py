"""claude-bottle completion bash|zsh|fish: print a shell completion script
(subcommands, options, agent names from the manifest)."""

from __future__ import annotations

import argparse
from typing import Any

from claude_bottle.cli.completion import SHELLS, completion_script
from claude_bottle.console import PROG


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="print a shell completion script (bash, zsh or fish)")
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # The whole parser, which the CLI hands to every command (a command never imports it).
    print(completion_script(args.shell, args.parser, PROG), end="")
    return 0
