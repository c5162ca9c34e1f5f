"""One module per command; each has add_parser(subparsers, name) and sets a handler."""

from __future__ import annotations

from types import ModuleType

from claude_bottle.cli.commands import (
    allow,
    build,
    cleanup,
    completion,
    doctor,
    egress,
    harvest,
    init,
    pool,
    ps,
    run,
    schema,
    sessions,
    shell,
    start,
    stop,
    trust,
    validate,
)

COMMANDS: dict[str, ModuleType] = {
    "start": start,
    "run": run,
    "pool": pool,
    "ps": ps,
    "stop": stop,
    "cleanup": cleanup,
    "sessions": sessions,
    "harvest": harvest,
    "egress": egress,
    "allow": allow,
    "shell": shell,
    "trust": trust,
    "validate": validate,
    "init": init,
    "schema": schema,
    "build": build,
    "doctor": doctor,
    "completion": completion,
}
