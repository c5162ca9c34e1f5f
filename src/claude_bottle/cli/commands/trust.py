"""claude-bottle trust [PATH]: show everything a manifest would let into a bottle
(manifest/inventory.py: variables and where their values come from, host files
with the paths they resolve to, prompt, skills' files, egress, limits), ask,
and record what trust pins (manifest/trust.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from claude_bottle.cli.terminal import ask
from claude_bottle.console import info
from claude_bottle.manifest.inventory import inventory_lines
from claude_bottle.manifest.locate import find_manifest, named_file
from claude_bottle.manifest.model import Manifest
from claude_bottle.manifest.parse import load_manifest_file
from claude_bottle.manifest.trust import EXIT_UNTRUSTED, is_trusted, needs_trust, record_trust
from claude_bottle.paths import HostPaths
from claude_bottle.plan.credentials import agent_custody


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="review a manifest and trust its exact content")
    p.add_argument(
        "path", nargs="?", metavar="PATH", help="the manifest (default: the one that applies here)"
    )
    p.add_argument("--yes", "-y", action="store_true", help="trust without asking (after showing)")
    p.set_defaults(handler=run)


def show(manifest: Manifest, paths: HostPaths) -> None:
    """What the manifest lets in, on standard output (for the person deciding)."""
    led = f" -> {manifest.real_source}" if manifest.real_source not in ("", manifest.source) else ""
    print(f"manifest {manifest.source}{led} (sha256 {manifest.digest})")
    print("it lets into its bottles:")
    for line in inventory_lines(manifest, paths.home, agent_custody):
        print(f"  {line}")


def run(args: argparse.Namespace) -> int:
    cwd = Path.cwd()
    paths = args.paths
    path = (
        named_file(cwd, args.path, "trust", paths)
        if args.path
        else find_manifest(cwd, None, args.settings.manifest, paths)
    )
    if path is None:
        info("no manifest applies here; the built-in default needs no trust")
        return 0
    manifest = load_manifest_file(path, paths.home)
    if not needs_trust(manifest, paths):
        info(f"{manifest.source} is your own (in your config folder); it needs no trust")
        return 0
    show(manifest, paths)
    if is_trusted(manifest, paths):
        info(f"{manifest.source} is already trusted as it is")
        return 0
    question = "trust this manifest, letting in everything listed above?"
    if not args.yes and not ask(question, "no terminal to ask on; pass --yes to trust it without asking"):
        info("not trusted")
        return EXIT_UNTRUSTED
    record_trust(manifest, paths)
    info(
        f"trusted {manifest.source} (sha256 {manifest.digest[:12]}); a change to it, to a prompt file or "
        "to a skill's files needs trusting again"
    )
    return 0
