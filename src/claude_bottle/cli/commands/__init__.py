"""One module per command; each has add_parser(subparsers, name) and sets a handler."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

# In the order `--help` lists them. Each is imported only when its command is
# run (or the whole parser is wanted): a `run` does not pay for `build`'s or
# `doctor`'s imports (issue 25: the CLI's start-up is on every bottle's path).
COMMANDS: tuple[str, ...] = (
    "start",
    "run",
    "pool",
    "ps",
    "stop",
    "cleanup",
    "sessions",
    "harvest",
    "egress",
    "allow",
    "shell",
    "trust",
    "validate",
    "init",
    "schema",
    "build",
    "doctor",
    "completion",
)


def command_module(name: str) -> ModuleType:
    """The module of one of COMMANDS (a KeyError for any other name)."""
    if name not in COMMANDS:
        raise KeyError(name)
    return import_module(f"claude_bottle.cli.commands.{name}")
