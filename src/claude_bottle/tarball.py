"""Tar streams for copying into a container with `docker cp -` (no host mounts)."""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass

from claude_bottle import agent_image

AGENT_UID = agent_image.UID
AGENT_GID = agent_image.GID


@dataclass(frozen=True)
class Entry:
    """A file or folder to create in the container, relative to the copy's destination."""

    path: str
    data: bytes | None = None  # None: a folder
    mode: int = 0o644


def _info(entry: Entry, now: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.uid, info.gid, info.uname, info.gname = AGENT_UID, AGENT_GID, agent_image.USER, agent_image.USER
    info.mtime = int(now)
    info.mode = entry.mode
    if entry.data is None:
        info.type = tarfile.DIRTYPE
    else:
        info.size = len(entry.data)
    return info


def tar_bytes(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = _info(entry, now)
            tar.addfile(info, io.BytesIO(entry.data) if entry.data is not None else None)
    return buf.getvalue()
