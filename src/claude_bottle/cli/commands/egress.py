"""claude-bottle egress NAME [--follow] [--json]: what a running bottle's egress
proxy allowed and refused, from the same events the end-of-session summary uses.

The proxy writes a line when a transaction ends: a refused request ends at
once, so it shows at once; an HTTPS tunnel shows when it closes.

With --follow on a terminal, each new host refused as not allowed is offered:
`allow HOST for this session? [y/N/always]` (as `claude-bottle allow` does it)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from claude_bottle.cli.terminal import ask, choose
from claude_bottle.console import info
from claude_bottle.engine.api import Engine
from claude_bottle.engine.select import locate
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.hostnames import host_pattern_problem
from claude_bottle.paths import HostPaths
from claude_bottle.proxies import backend_for
from claude_bottle.proxies.events import HOST_NOT_ALLOWED, SNI_NOT_ALLOWED, EgressEvent, event_line
from claude_bottle.tracking.inventory import find_bottle, find_sidecar

NO_TERMINAL = "no terminal to ask on; approve with: claude-bottle allow NAME HOST"


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
    p.add_argument(
        "--no-ask", action="store_true", help="with --follow on a terminal: do not offer refused hosts"
    )
    p.set_defaults(handler=run)


def _show(events: list[EgressEvent], as_json: bool) -> None:
    for event in events:
        print(event.to_json() if as_json else event_line(event), flush=True)


def run(args: argparse.Namespace) -> int:
    engine = locate(args.settings)
    bottle = find_bottle(engine, args.target)
    sidecar, proxy_name = find_sidecar(engine, bottle["session"])
    proxy = backend_for(proxy_name)
    if not args.follow:
        events = proxy.read_events(engine.logs(sidecar))
        _show(events, args.json)
        if not events and not args.json:
            info(f"no requests through {bottle['container']}'s proxy yet")
        return 0
    offer = (
        Offers(engine, bottle, args.paths) if not args.json and not args.no_ask and _on_a_terminal() else None
    )
    try:
        with engine.follow_logs(sidecar) as stream:
            for line in stream:
                events = proxy.read_events(line.decode("utf-8", "replace"))
                _show(events, args.json)
                if offer is not None:
                    offer(events)
    except KeyboardInterrupt:  # the way out of --follow, not a failure
        return 0
    if not args.json and sys.stderr.isatty():
        info(f"{bottle['container']} has ended")
    return 0


def _on_a_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


class Offers:
    """Each new host refused as not allowed, offered once for approval."""

    def __init__(self, engine: Engine, bottle: dict[str, str], paths: HostPaths) -> None:
        self.engine = engine
        self.paths = paths
        self.bottle = bottle
        self.offered: set[str] = set()

    def __call__(self, events: list[EgressEvent]) -> None:
        for event in events:
            host = event.host
            if (
                event.allowed
                or event.reason not in (HOST_NOT_ALLOWED, SNI_NOT_ALLOWED)
                or host in self.offered
            ):
                continue
            self.offered.add(host)
            if host_pattern_problem(host) is not None:
                continue  # not a name that could be allowed (and not printed to the terminal raw)
            answer = choose(f"allow {host} for this session? [y/N/always]", NO_TERMINAL)
            if answer not in ("y", "yes", "a", "always"):
                continue
            always = answer in ("a", "always")
            from claude_bottle.cli.approving import approve_in_bottle  # only once one is approved

            try:
                approve_in_bottle(
                    self.engine, self.bottle, host, scope="always" if always else "session",
                    via="egress --follow", paths=self.paths,
                    confirm=(lambda q: ask(q, NO_TERMINAL)) if always else None,
                )  # fmt: skip
            except ClaudeBottleError as exc:
                info(f"{host} not approved: {exc}")
