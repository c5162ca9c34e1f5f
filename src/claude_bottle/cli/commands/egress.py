"""claude-bottle egress NAME [--follow] [--json]: what a running bottle's egress
proxy allowed and refused, from the same events the end-of-session summary uses.

The proxy writes a line when a transaction ends: a refused request ends at
once, so it shows at once; an HTTPS tunnel shows when it closes."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from claude_bottle.console import info
from claude_bottle.engine.inventory import find_bottle, find_sidecar
from claude_bottle.engine.select import locate
from claude_bottle.proxies import backend_for
from claude_bottle.proxies.events import EgressEvent, event_line


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="show what a running bottle's egress proxy allowed and refused")
    p.add_argument("target", help="agent name or container name")
    p.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="keep showing requests as they happen, until the bottle ends",
    )
    p.add_argument(
        "--json", action="store_true", help="one JSON object per request (the egress.jsonl fields)"
    )
    p.set_defaults(handler=run)


def _show(events: list[EgressEvent], as_json: bool) -> None:
    for event in events:
        print(event.to_json() if as_json else event_line(event), flush=True)


def run(args: argparse.Namespace) -> int:
    engine = locate()
    bottle = find_bottle(engine, args.target)
    sidecar, proxy_name = find_sidecar(engine, bottle["session"])
    proxy = backend_for(proxy_name)
    if not args.follow:
        events = proxy.read_events(engine.logs(sidecar))
        _show(events, args.json)
        if not events and not args.json:
            info(f"no requests through {bottle['container']}'s proxy yet")
        return 0
    try:
        with engine.follow_logs(sidecar) as stream:
            for line in stream:
                _show(proxy.read_events(line.decode("utf-8", "replace")), args.json)
    except KeyboardInterrupt:  # the way out of --follow, not a failure
        return 0
    if not args.json and sys.stderr.isatty():
        info(f"{bottle['container']} has ended")
    return 0
