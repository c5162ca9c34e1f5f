"""claude-bottle ps: the bottles running now."""

from __future__ import annotations

import argparse
import json
from typing import Any

from claude_bottle import labels as L
from claude_bottle.engine import Engine

COLUMNS = {
    "container": "{{.Names}}",
    "agent": f'{{{{.Label "{L.AGENT}"}}}}',
    "bottle": f'{{{{.Label "{L.BOTTLE}"}}}}',
    "runtime": f'{{{{.Label "{L.RUNTIME}"}}}}',
    "session": f'{{{{.Label "{L.SESSION}"}}}}',
    "age": "{{.RunningFor}}",
    "egress": f'{{{{.Label "{L.EGRESS}"}}}}',
}


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="list running bottles")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run)


def running_bottles(engine: Engine) -> list[dict[str, str]]:
    fmt = "\t".join(COLUMNS.values())
    rows = engine.lines(
        "ps",
        "--filter",
        f"label={L.ROLE}={L.ROLE_AGENT}",
        "--filter",
        f"label={L.MANAGED}=1",
        "--format",
        fmt,
    )
    return [dict(zip(COLUMNS, row.split("\t"), strict=False)) for row in rows]


def run(args: argparse.Namespace) -> int:
    bottles = running_bottles(Engine.locate())
    if args.json:
        print(json.dumps(bottles, indent=2))
        return 0
    if not bottles:
        print("no bottles running")
        return 0
    widths = {k: max(len(k), *(len(b[k]) for b in bottles)) for k in COLUMNS if k != "egress"}
    print("  ".join(k.upper().ljust(w) for k, w in widths.items()) + "  EGRESS")
    for b in bottles:
        print("  ".join(b[k].ljust(w) for k, w in widths.items()) + "  " + b["egress"])
    return 0
