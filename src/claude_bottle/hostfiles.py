"""Reading files from the host safely: regular files only (a FIFO or a device is
refused before it is opened, and again after, by the descriptor), and never
more than a stated number of bytes, so no file can hang or exhaust the CLI."""

from __future__ import annotations

import os
import stat
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB

# Caps on what is read from the host (README: "Limits on what is read").
MANIFEST_MAX = 16 * MIB
PROMPT_MAX = 1 * MIB
IDENTITY_MAX = 64 * KIB
KNOWN_HOSTS_MAX = 4 * MIB
SKILL_MAX = 32 * MIB  # all files of one skill folder together
SKILL_FILES_MAX = 10_000
ENV_LITERAL_MAX = 32 * KIB  # one value; the kernel refuses 128 KiB in one string


class HostFileProblem(Exception):
    """Why a host file cannot be read; callers add where it was named."""


def size_text(n: int) -> str:
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    if n >= KIB and n % KIB == 0:
        return f"{n // KIB} KiB"
    return f"{n} bytes"


def kind_of(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _stat_regular(path: Path) -> tuple[os.stat_result | None, str | None]:
    """The file's status when it is a regular file (symlinks followed), or why not. Never opens it."""
    try:
        st = path.stat()
    except OSError as exc:
        return None, exc.strerror or str(exc)
    if not stat.S_ISREG(st.st_mode):
        return None, f"{kind_of(st.st_mode)}, not a regular file"
    return st, None


def regular_file_problem(path: Path) -> str | None:
    """None for a regular file (symlinks followed); otherwise why not. Never opens it."""
    return _stat_regular(path)[1]


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or HostFileProblem."""
    problem = regular_file_problem(path)
    if problem:
        raise HostFileProblem(f"cannot read {path}: {problem}")
    try:
        # O_NONBLOCK: a file swapped for a FIFO since the check cannot hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise HostFileProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise HostFileProblem(f"cannot read {path}: {kind_of(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise HostFileProblem(f"{path} is larger than {size_text(limit)} ({st.st_size} bytes)")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise HostFileProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise HostFileProblem(f"{path} is larger than {size_text(limit)}")
    return data


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` (already resolved) is `folder` (resolved) or below it."""
    return path == folder or folder in path.parents


def identity_path(declared: str, home: Path) -> Path:
    """Where an ssh IdentityFile points: `~` and relative paths are under `home`."""
    if declared == "~" or declared.startswith("~/"):
        return home / declared[2:]
    return home / declared  # an absolute path stays itself


def identity_problem(path: Path, home: Path) -> str | None:
    """Why `path` (resolved) may not go into a bottle as a private key, or None.

    A key enters only if it is a regular file under the user's home, owned by
    the user and unreadable by anyone else (what ssh itself demands of a key):
    a manifest cannot name /etc/shadow or another user's file as a "key"."""
    home = home.resolve()
    if not inside(path, home):
        return f"outside your home folder {home}"
    st, problem = _stat_regular(path)
    if st is None:
        return problem
    if st.st_uid != os.getuid():
        return "not owned by you"
    if st.st_mode & 0o077:
        return f"readable by others (mode {stat.S_IMODE(st.st_mode):o}; chmod 600 it, as ssh demands)"
    if st.st_size > IDENTITY_MAX:
        return f"larger than {size_text(IDENTITY_MAX)} ({st.st_size} bytes), so not a key"
    return None
