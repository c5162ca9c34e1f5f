"""claude-bottle ps: the bottles running now (a warm pool's ready bottles,
which are no one's session yet, are counted apart)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from claude_bottle.engine.select import locate
from claude_bottle.tracking.inventory import COLUMNS, running_bottles
from claude_bottle.tracking.pool import ready_sessions


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="list running bottles")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    ready = ready_sessions(args.paths.state)
    running = running_bottles(locate(args.settings))
    bottles = [b for b in running if b["session"] not in ready]
    if args.json:
        print(json.dumps(bottles, indent=2))
        return 0
    if not bottles:
        print("no bottles running")
    else:
        widths = {k: max(len(k), *(len(b[k]) for b in bottles)) for k in COLUMNS if k != "egress"}
        print("  ".join(k.upper().ljust(w) for k, w in widths.items()) + "  EGRESS")
        for b in bottles:
            print("  ".join(b[k].ljust(w) for k, w in widths.items()) + "  " + b["egress"])
    if pooled := len(running) - len(bottles):
        print(f"and {pooled} ready in a warm pool (`claude-bottle pool NAME --stop` ends them)")
    return 0
