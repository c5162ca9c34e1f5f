"""claude-bottle sessions: the saved sessions and where their work went."""

from __future__ import annotations

import argparse
import json
from typing import Any

from claude_bottle.workspace.session_folders import saved_sessions


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="list saved sessions (work brought back, blocked hosts)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run)


def describe_work(work: dict[str, Any] | None) -> str:
    if not work or work.get("kind") == "none":
        return "no changes"
    if work.get("kind") == "branch":
        return f"branch {work.get('branch')} ({work.get('commits')} commit(s))"
    counts = [len(work.get(k) or []) for k in ("changed", "added", "deleted")]
    return f"{counts[0]} changed, {counts[1]} new, {counts[2]} deleted in {work.get('folder')}"


def run(args: argparse.Namespace) -> int:
    records = saved_sessions()
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    if not records:
        print("no saved sessions")
        return 0
    for r in records:
        blocked = ", ".join(r.get("blocked") or []) or "(none)"
        work = describe_work(r.get("work")) if r.get("cwd") else "(no --cwd)"
        print(f"{r.get('session', '?')}  {r.get('started', '?')}  {r.get('agent', '?')}")
        print(f"    cwd     : {r.get('cwd') or '-'}")
        print(f"    work    : {work}")
        print(f"    blocked : {blocked}")
        print(f"    folder  : {r.get('folder')}")
    return 0
