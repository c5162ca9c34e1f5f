"""One module per command; each has add_parser(subparsers, name) and sets a handler."""

from __future__ import annotations

from types import ModuleType

from claude_bottle.commands import build, init, schema, start, validate

COMMANDS: dict[str, ModuleType] = {
    "start": start,
    "validate": validate,
    "init": init,
    "schema": schema,
    "build": build,
}
