"""Saved sessions: one folder each under the user's data folder, holding what a
session brought back (bundle or files), its transcript, its egress log and a
session.json that `claude-bottle sessions` lists."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_bottle.paths import HostPaths
from claude_bottle.safe_read import SESSION_RECORD_MAX, HostFileProblem, read_capped_text


@dataclass(frozen=True)
class SessionFolder:
    path: Path

    @classmethod
    def for_session(cls, session_id: str, paths: HostPaths) -> SessionFolder:
        return cls(paths.sessions / session_id)

    def create(self) -> SessionFolder:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self

    @property
    def record_path(self) -> Path:
        return self.path / "session.json"

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(read_capped_text(self.record_path, SESSION_RECORD_MAX, follow_links=False))
        except (HostFileProblem, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def update(self, **fields: Any) -> None:
        record = self.read()
        record.update(fields)
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(self.record_path)


def saved_sessions(paths: HostPaths) -> list[dict[str, Any]]:
    root = paths.sessions
    if not root.is_dir():
        return []
    records = [SessionFolder(p).read() | {"folder": str(p)} for p in root.iterdir() if p.is_dir()]
    return sorted(records, key=lambda r: str(r.get("started", "")))
