"""claude-bottle validate: check the manifest and list its agents and bottles."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from claude_bottle.cli.options import add_manifest_option
from claude_bottle.manifest.locate import load_manifest


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="check the manifest and list agents and bottles")
    add_manifest_option(p)
    # For shell completion: agent names only, one a line.
    p.add_argument("--list-agents", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    manifest = load_manifest(Path.cwd(), args.paths, args.manifest, args.settings.manifest)
    if args.list_agents:
        print("\n".join(manifest.agents))
        return 0
    print(f"{manifest.source}: ok")
    print("bottles:")
    for b in manifest.bottles.values():
        print(f"  {b.name}: runtime {b.runtime}; egress {', '.join(b.egress.all_hosts)}")
    print("agents:")
    for a in manifest.agents.values():
        extras = [f"{len(a.env)} env", f"{len(a.skills)} skills", f"{len(a.ssh)} ssh hosts"]
        print(f"  {a.name}: bottle {a.bottle}; {', '.join(extras)}")
    return 0
