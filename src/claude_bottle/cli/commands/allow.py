"""claude-bottle allow NAME|CONTAINER HOST [--always]: let a running bottle reach
HOST from now on, without restarting it (its agent keeps its context and its
open connections); --always also adds HOST to the bottle's manifest, showing the
diff, and trusts the new content.

Only from outside the bottle: the new rule goes to the sidecar through the
engine, which nothing inside the bottle can reach."""

from __future__ import annotations

import argparse
from typing import Any

from claude_bottle.engine.select import locate
from claude_bottle.tracking.inventory import find_bottle


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(
        name, help="let a running bottle reach a host it was refused, for the rest of its session"
    )
    p.add_argument("target", help="agent name or container name")
    p.add_argument("host", help="the host name (or *.domain) to allow, as in egress.allow")
    p.add_argument(
        "--always",
        action="store_true",
        help="also add it to the bottle's manifest (the diff is shown) and trust the new content",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from claude_bottle.cli.approving import approve_in_bottle  # not every command's start pays for it

    engine = locate(args.settings)
    bottle = find_bottle(engine, args.target)
    approve_in_bottle(engine, bottle, args.host, scope="always" if args.always else "session", via="allow",
                      paths=args.paths)  # fmt: skip
    return 0
