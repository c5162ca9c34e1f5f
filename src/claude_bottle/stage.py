"""A per-session folder on the host for what the sidecar reads (its config).

It holds nothing secret (env values never touch disk); it lives under the
user's cache folder so that engines that share only the home folder (Docker
Desktop) can bind-mount from it, and it is removed with the session."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "claude-bottle"


class StageFolder(AbstractContextManager["StageFolder"]):
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.path = Path()

    def __enter__(self) -> StageFolder:
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = Path(tempfile.mkdtemp(prefix=f"stage-{self.session_id}-", dir=root))
        return self

    def write(self, name: str, text: str, mode: int = 0o644) -> Path:
        file = self.path / name
        file.write_text(text)
        file.chmod(mode)
        return file

    def __exit__(self, *exc: Any) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
