"""claude-bottle sessions [show ID | verify ID | schema]: the saved sessions and
where their work went; one session's record (its evidence), and the check of
that record's hash chain; the record's JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from claude_bottle.console import info
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.paths import HostPaths
from claude_bottle.workspace.record import NAME, SessionRecord, verify_file
from claude_bottle.workspace.session_folders import SessionFolder, saved_sessions


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="list saved sessions; show or verify one session's record")
    p.add_argument("--json", action="store_true", help="print JSON")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="print a session's record (its evidence)")
    show.add_argument("session", help="session id (or the start of one)")
    show.add_argument("--json", action="store_true", help="the record's lines as stored (JSON Lines)")
    verify = actions.add_parser("verify", help="check a session's record: every entry, the hash chain")
    verify.add_argument("session", help="session id (or the start of one)")
    actions.add_parser("schema", help="print the JSON Schema of a record's entries")
    p.set_defaults(handler=run)


def describe_work(work: dict[str, Any] | None) -> str:
    if not work or work.get("kind") == "none":
        return "no changes"
    if work.get("kind") == "branch":
        return f"branch {work.get('branch')} ({work.get('commits')} commit(s))"
    counts = [len(work.get(k) or []) for k in ("changed", "added", "deleted")]
    return f"{counts[0]} changed, {counts[1]} new, {counts[2]} deleted in {work.get('folder')}"


def run(args: argparse.Namespace) -> int:
    if args.action == "schema":
        from claude_bottle.workspace.record_schema import SCHEMA

        print(json.dumps(SCHEMA, indent=2))
        return 0
    if args.action in ("show", "verify"):
        folder = find_session(args.session, args.paths)
        return show(folder, args.json) if args.action == "show" else verify(folder)
    return list_sessions(args.json, args.paths)


def find_session(wanted: str, paths: HostPaths) -> SessionFolder:
    """The one saved session whose id is `wanted` or starts with it."""
    root = paths.sessions
    if not wanted or "/" in wanted or wanted.startswith("."):
        raise UsageError(f"'{wanted}' is not a session id")
    exact = root / wanted
    if exact.is_dir():
        return SessionFolder(exact)
    found = sorted(p for p in root.glob(f"{wanted}*") if p.is_dir()) if root.is_dir() else []
    if len(found) == 1:
        return SessionFolder(found[0])
    if found:
        raise ClaudeBottleError(
            f"'{wanted}' is the start of several sessions: {', '.join(p.name for p in found)}"
        )
    raise ClaudeBottleError(f"no saved session '{wanted}' (see 'claude-bottle sessions')")


def _record(folder: SessionFolder) -> SessionRecord:
    record = SessionRecord.in_folder(folder.path)
    if not record.exists:
        raise ClaudeBottleError(f"session {folder.path.name} has no record (it ran before records were kept)")
    return record


def _when(at: object) -> str:
    try:
        stamp = datetime.fromisoformat(str(at).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return str(at)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def entry_line(entry: dict[str, Any]) -> str:
    """One entry of a record as a line for people (pure)."""
    data, kind = entry.get("data") or {}, str(entry.get("kind"))
    if kind == "session":
        manifest, engine = data.get("manifest") or {}, data.get("engine") or {}
        trusted = "trusted" if manifest.get("trusted") else "NOT trusted"
        what = (f"{data.get('agent')} in bottle {data.get('bottle')} on {engine.get('name')}; manifest "
                f"{manifest.get('path')} sha256:{str(manifest.get('sha256'))[:12] or '-'} ({trusted}); "
                f"by {_who(data.get('by'))}")  # fmt: skip
    elif kind == "containers":
        what = "; ".join(f"{role} {c.get('name')} image {c.get('image')} ({c.get('image_id')})"
                         for role, c in data.items() if isinstance(c, dict))  # fmt: skip
    elif kind == "approval":
        scope = "this session and in the manifest" if data.get("scope") == "always" else "this session"
        what = f"{data.get('host')} for {scope} by {_who(data.get('by'))}"
    elif kind == "egress":
        why = data.get("reason") or data.get("failure") or ""
        port = data.get("port")
        target = f"{data.get('host')}" + (f":{port}" if port not in (None, 80, 443) else "")
        what = f"{data.get('outcome')} {data.get('method') or ''} {target}".replace("  ", " ") + (
            f" {why}" if why else ""
        )
    elif kind == "transcripts":
        files = data.get("files") or []
        what = f"{len(files)} file(s), {sum(int(f.get('size', 0)) for f in files)} bytes"
    elif kind == "work":
        what = describe_work(data) + (
            f"; {len(data.get('files') or [])} file(s)" if data.get("files") else ""
        )
    elif kind == "end":
        counts = data.get("counts") or {}
        what = f"status {data.get('status')}; " + ", ".join(f"{k} {v}" for k, v in counts.items())
    else:
        what = json.dumps(data, sort_keys=True)
    return f"{entry.get('seq'):>4}  {_when(entry.get('at'))}  {kind:<11} {what}"


def _who(by: object) -> str:
    if not isinstance(by, dict):
        return "?"
    return f"{by.get('user')}@{by.get('host')} ({by.get('via')}, pid {by.get('pid')})"


def show(folder: SessionFolder, as_json: bool) -> int:
    record = _record(folder)
    if as_json:
        sys.stdout.write(record.path.read_text(encoding="utf-8"))
        return 0
    for entry in record.entries():
        print(entry_line(entry))
    info(f"record: {record.path}; check it with: claude-bottle sessions verify {folder.path.name}")
    return 0


def verify(folder: SessionFolder) -> int:
    record = _record(folder)
    verdict = verify_file(record.path)
    if not verdict.ok:
        info(f"session {folder.path.name}: the record does NOT hold: {verdict.problems[0]} ({record.path})")
        return 1
    end = "" if verdict.ended else " (no end entry: the session is running, or its end was not written)"
    name = folder.path.name
    print(f"session {name}: {verdict.entries} entries, chain intact, head sha256:{verdict.head}{end}")
    return 0


def list_sessions(as_json: bool, paths: HostPaths) -> int:
    records = saved_sessions(paths)
    if as_json:
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
        if (Path(str(r.get("folder"))) / NAME).is_file():
            print(f"    record  : claude-bottle sessions show {r.get('session')}")
    return 0
