"""What may come out of a bottle, and how it lands: bounded, sparse, inert.

Everything a session takes out (saved files, the git bundle, transcripts) is
counted against two caps: one file at most HARVEST_FILE_MAX bytes, the whole
session at most HARVEST_MAX (CLAUDE_BOTTLE_HARVEST_FILE_MAX and
CLAUDE_BOTTLE_HARVEST_MAX raise them). A file over a cap is left in the bottle
with one line in the summary; what was taken before it stays taken. Sizes are
known before anything is copied (the bottle lists its files first), and every
stream is also read through a counter, so a file that grows meanwhile, or a
stream longer than it said, stops at the cap instead of filling the disk.

A file lands sparse: a run of zeros becomes a hole, not written bytes (a
`truncate -s 50G` in the bottle costs the host nothing, and a sparse file under
the cap no more than its data). A harvest of plain files never writes a
version-control folder a shell prompt or git would read (`.git` in any case and
at any depth, and the like: `tool_config_part`), and saves no exec bit.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from claude_bottle.errors import UsageError
from claude_bottle.manifest.parse import memory_bytes
from claude_bottle.safe_read import GIB, size_text
from claude_bottle.settings import ENVIRONMENT, Settings

HARVEST_FILE_MAX = 1 * GIB
HARVEST_MAX = 4 * GIB
CHUNK = 1 << 20
_ZEROS = bytes(CHUNK)

# Folders (or files) of version control that a shell prompt, an editor or git
# itself reads and may run programs from. Compared as a file system that folds
# case (macOS, Windows) would: case folded, the code points HFS+ ignores removed,
# trailing dots and spaces (which NTFS drops) removed; `git~1` is .git's 8.3 name.
TOOL_CONFIG_NAMES = frozenset({".git", "git~1", ".hg", ".svn", ".bzr", ".jj", ".sl", "_darcs", ".pijul",
                               ".fslckout", "_fossil_"})  # fmt: skip
_HFS_IGNORED = frozenset(
    chr(c) for r in ((0x200C, 0x200F), (0x202A, 0x202E), (0x206A, 0x206F), (0xFEFF, 0xFEFF))
    for c in range(r[0], r[1] + 1)
)  # fmt: skip


def tool_config_part(rel: str) -> str | None:
    """The component of `rel` that names a version-control folder (however spelt),
    or None (pure)."""
    for part in rel.split("/"):
        folded = "".join(c for c in unicodedata.normalize("NFC", part) if c not in _HFS_IGNORED)
        if folded.casefold().rstrip(". ") in TOOL_CONFIG_NAMES:
            return part
    return None


def size_setting(raw: str | None, name: str, default: int) -> int:
    """Bytes a size setting ("2g", "512m": powers of 1024) names, or `default` when unset."""
    if not raw:
        return default
    size = memory_bytes(raw.strip())
    if size is None or size < 1:
        raise UsageError(f"{name} must be a size like 2g or 512m, got '{raw}'")
    return size


@dataclass
class Budget:
    """What a session may still take out, and the lines saying what it left in."""

    file_max: int = HARVEST_FILE_MAX
    left: int = HARVEST_MAX
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_settings(cls, s: Settings) -> Budget:
        return cls(
            file_max=size_setting(s.harvest_file_max, ENVIRONMENT["harvest_file_max"], HARVEST_FILE_MAX),
            left=size_setting(s.harvest_max, ENVIRONMENT["harvest_max"], HARVEST_MAX),
        )

    def admit(self, what: str, size: int) -> bool:
        """Take `size` bytes for `what` from the budget, or say why not (a note) and refuse."""
        if size > self.file_max:
            self.notes.append(
                f"{what} ({size_text(size)}) is over the {size_text(self.file_max)} one file may bring out "
                f"({ENVIRONMENT['harvest_file_max']}): left in the bottle"
            )
            return False
        if size > self.left:
            self.notes.append(
                f"{what} ({size_text(size)}) is over what this session may still bring out "
                f"({size_text(self.left)} left of {ENVIRONMENT['harvest_max']}): left in the bottle"
            )
            return False
        self.left -= size
        return True


class OverCap(Exception):
    """A stream ran past what it may bring out."""


class Counted:
    """A stream read through a counter: OverCap once more than `limit` bytes came."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.taken = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.taken += len(data)
        if self.taken > self.limit:
            raise OverCap
        return data


def land(stream: IO[bytes] | None, dest: Path, limit: int) -> int:
    """Copy a stream to `dest` in chunks, a chunk of zeros as a hole; at most
    `limit` bytes (OverCap past it, the partial file removed). Mode 644, never
    an exec bit. Its size."""
    size = 0
    with dest.open("wb") as out:
        dest.chmod(0o644)
        try:
            while stream is not None and (chunk := stream.read(CHUNK)):
                size += len(chunk)
                if size > limit:
                    raise OverCap
                if chunk == _ZEROS[: len(chunk)]:
                    out.seek(len(chunk), 1)
                else:
                    out.write(chunk)
            out.truncate(size)
        except BaseException:
            out.close()
            dest.unlink(missing_ok=True)
            raise
    return size
