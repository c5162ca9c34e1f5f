"""A per-session folder on the host for what the sidecar reads (its config).

It holds nothing secret (env values never touch disk); it lives under the
user's cache folder so that engines that share only the home folder (Docker
Desktop) can bind-mount from it, and it is removed with the session. Its name,
stage-<session>-*, and the owner recorded in it let the watchdog and `cleanup`
remove it after a kill -9 too."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from claude_bottle.engine.labels import Owner
from claude_bottle.engine.owner import current_owner, owner_alive

OWNER_FILE = ".owner"
# A folder without an owner file is one being made right now (mkdtemp, then the
# file), or one from a version that wrote none; only an old one is an orphan.
UNOWNED_GRACE = 60.0


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
        owner = current_owner()
        (self.path / OWNER_FILE).write_text(f"{owner.pid}\n{owner.start}\n{owner.host}\n")
        return self

    def write(self, name: str, text: str, mode: int = 0o644) -> Path:
        file = self.path / name
        file.write_text(text)
        file.chmod(mode)
        return file

    def __exit__(self, *exc: Any) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def stage_folders(session_id: str | None = None) -> list[Path]:
    """Stage folders under the cache root: one session's, or all."""
    root = cache_root()
    pattern = f"stage-{session_id}-*" if session_id else "stage-*-*"
    try:
        return sorted(p for p in root.glob(pattern) if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def folder_owner(folder: Path) -> Owner | None:
    try:
        pid, start, host = (folder / OWNER_FILE).read_text().splitlines()[:3]
        return Owner(pid=int(pid), start=start, host=host)
    except (OSError, ValueError):
        return None


def is_orphaned(folder: Path) -> bool:
    owner = folder_owner(folder)
    if owner is None:
        try:
            return time.time() - folder.stat().st_mtime > UNOWNED_GRACE
        except OSError:
            return False
    return not owner_alive(owner)


def remove_stage_folders(session_id: str) -> list[Path]:
    """A session's stage folders (its watchdog's sweep: the owner is gone)."""
    gone = stage_folders(session_id)
    for folder in gone:
        shutil.rmtree(folder, ignore_errors=True)
    return gone


def remove_orphaned_stage_folders(session_id: str | None = None, dry_run: bool = False) -> list[Path]:
    """Stage folders whose owner died (kill -9), for `cleanup`; never a live one's."""
    found = [f for f in stage_folders(session_id) if is_orphaned(f)]
    if not dry_run:
        for folder in found:
            shutil.rmtree(folder, ignore_errors=True)
    return found
