"""claude-bottle ps: the bottles running now."""

from __future__ import annotations

import argparse
import json
from typing import Any

from claude_bottle.engine.select import locate
from claude_bottle.tracking.inventory import COLUMNS, running_bottles


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="list running bottles")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    bottles = running_bottles(locate(args.settings))
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
