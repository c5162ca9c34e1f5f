"""claude-bottle ps: the bottles running now."""

from __future__ import annotations

import argparse
import json
from typing import Any

from claude_bottle import labels as L
from claude_bottle.engine import Engine
from claude_bottle.errors import ClaudeBottleError

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


def find_bottle(engine: Engine, target: str) -> dict[str, str]:
    """The one running bottle whose agent or container is `target`."""
    bottles = running_bottles(engine)
    matches = [b for b in bottles if target in (b["agent"], b["container"])]
    if not matches:
        if not bottles:
            raise ClaudeBottleError(
                f"no running bottle matches '{target}' (none is running; "
                "start one with 'claude-bottle start NAME')"
            )
        running = ", ".join(sorted(b["container"] for b in bottles))
        raise ClaudeBottleError(f"no running bottle matches '{target}' (running: {running})")
    if len(matches) > 1:
        names = ", ".join(b["container"] for b in matches)
        raise ClaudeBottleError(f"'{target}' matches several bottles ({names}); name a container")
    return matches[0]


def find_sidecar(engine: Engine, session: str) -> tuple[str, str]:
    """A running session's sidecar container and its proxy backend's name."""
    rows = engine.lines(
        "ps",
        "--filter", f"label={L.ROLE}={L.ROLE_SIDECAR}",
        "--filter", f"label={L.SESSION}={session}",
        "--format", f'{{{{.Names}}}}\t{{{{.Label "{L.PROXY}"}}}}',
    )  # fmt: skip
    if not rows:
        raise ClaudeBottleError(f"session {session} has no running egress sidecar (is it ending?)")
    name, _, proxy = rows[0].partition("\t")
    return name, proxy or "squid"  # sidecars made before the label existed ran Squid
