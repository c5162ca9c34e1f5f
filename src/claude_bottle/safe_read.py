"""Reading files from the host safely: regular files only (a FIFO or a device is
refused before it is opened, and again after, by the descriptor), and never
more than a stated number of bytes, so no file can hang or exhaust the CLI."""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

# Caps on what is read from the host (README: "Limits on what is read").
MANIFEST_MAX = 16 * MIB
PROMPT_MAX = 1 * MIB
IDENTITY_MAX = 64 * KIB
KNOWN_HOSTS_MAX = 4 * MIB
SKILL_MAX = 32 * MIB  # all files of one skill folder together
SKILL_FILES_MAX = 10_000
ENV_LITERAL_MAX = 32 * KIB  # one value; the kernel refuses 128 KiB in one string
IGNORE_FILE_MAX = 1 * MIB  # .claude-bottle-ignore
SETUP_FILE_MAX = 4 * MIB  # one file of the user's ~/.claude (CLAUDE.md, a command)
CLAUDE_JSON_MAX = 64 * MIB  # ~/.claude.json, which also holds Claude Code's project history
EXTRA_CA_MAX = 4 * MIB
SESSION_RECORD_MAX = 64 * MIB  # a session folder's session.json (the workspace's listing)
SYSTEM_FILE_MAX = 1 * MIB  # /etc/resolv.conf


class HostFileProblem(Exception):
    """Why a host file cannot be read; callers add where it was named."""


def size_text(n: int) -> str:
    if n >= GIB and n % GIB == 0:
        return f"{n // GIB} GiB"
    if n >= GIB:
        return f"{n / GIB:.1f} GiB"
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
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


def read_capped(path: Path, limit: int, *, follow_links: bool = True) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or HostFileProblem.
    With `follow_links` False, a symbolic link is refused as one, also when it
    replaced the file between the check and the open (O_NOFOLLOW)."""
    if not follow_links and path.is_symlink():
        raise HostFileProblem(f"{path} is a symbolic link (to {os.readlink(path)}), not a file of its own")
    problem = regular_file_problem(path)
    if problem:
        raise HostFileProblem(f"cannot read {path}: {problem}")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        # O_NONBLOCK: a file swapped for a FIFO since the check cannot hang the open.
        fd = os.open(path, flags | (0 if follow_links else os.O_NOFOLLOW))
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


def read_capped_text(path: Path, limit: int, *, follow_links: bool = True) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes (HostFileProblem
    otherwise; with `follow_links` False, a symbolic link is refused as one)."""
    data = read_capped(path, limit, follow_links=follow_links)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise HostFileProblem(f"{path} is not UTF-8 text") from None


def reached(path: Path) -> Path:
    """The path by which a file was reached, made absolute with its folders'
    links resolved but not its own: a link reached from a repository stays that
    repository's entry, whatever it points to."""
    absolute = Path(os.path.abspath(path))
    return Path(os.path.realpath(absolute.parent)) / absolute.name


@dataclass(frozen=True)
class FolderItem:
    rel: str  # "/"-separated, relative to the folder
    data: bytes | None  # None: a subfolder
    mode: int


def read_folder(root: Path, follow_file_links: bool = False) -> list[FolderItem]:
    """A folder's subfolders and files, without following links out of it (except,
    when asked, links to single files) and skipping special files; at most
    SKILL_MAX bytes in SKILL_FILES_MAX files, checked before a file is read
    (HostFileProblem past either). Files come with their bytes and mode (755 for
    one its owner may run, else 644), in a stable order."""
    out: list[FolderItem] = []
    budget, files_left = SKILL_MAX, SKILL_FILES_MAX
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel = Path(folder).relative_to(root)
        out += [FolderItem((rel / d).as_posix(), None, 0o755) for d in dirs]
        for f in sorted(files):
            path = Path(folder) / f
            if (path.is_symlink() and not follow_file_links) or not path.is_file():
                continue
            files_left -= 1
            if files_left < 0:
                raise HostFileProblem(f"folder {root} holds more than {SKILL_FILES_MAX} files")
            if path.stat().st_size > budget:
                where = (rel / f).as_posix()
                raise HostFileProblem(
                    f"folder {root} holds more than {size_text(SKILL_MAX)} (reached at {where})"
                )
            try:
                data = read_capped(path, budget)
            except HostFileProblem as exc:
                raise HostFileProblem(f"folder {root}: {exc}") from None
            budget -= len(data)
            out.append(FolderItem((rel / f).as_posix(), data, 0o755 if os.access(path, os.X_OK) else 0o644))
    return out


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
    try:
        return private_key_problem(read_capped(path, IDENTITY_MAX))
    except HostFileProblem as exc:
        return str(exc)


# What ssh reads as a private key: OpenSSH's own format, or PEM (PKCS#1, SEC 1,
# PKCS#8, encrypted or not). Nothing but the one block and whitespace around it.
_KEY_LABELS = ("OPENSSH PRIVATE KEY", "RSA PRIVATE KEY", "DSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY",
               "ENCRYPTED PRIVATE KEY")  # fmt: skip
_PEM_BLOCK = re.compile(rb"\A\s*-----BEGIN ([A-Z ]+)-----\r?\n(.*?)-----END \1-----\s*\Z", re.DOTALL)
_OPENSSH_MAGIC = b"openssh-key-v1\0"


def private_key_problem(data: bytes) -> str | None:
    """Why `data` is not an ssh private key (OpenSSH or PEM), or None (pure). A
    manifest's IdentityFile must be one: Claude Code's own credentials or a cloud
    CLI's, owner-only under the home folder too, are not keys to hand a bottle."""
    not_a_key = "not an ssh private key (OpenSSH or PEM)"
    match = _PEM_BLOCK.match(data)
    if match is None or match.group(1).decode() not in _KEY_LABELS:
        return not_a_key
    lines = [line.strip() for line in match.group(2).splitlines()]
    # A PEM key encrypted the old way: headers, a blank line, then the sealed body.
    sealed = b"Proc-Type: 4,ENCRYPTED" in lines
    if sealed:
        lines = lines[lines.index(b"") + 1 :] if b"" in lines else []
    try:
        body = base64.b64decode(b"".join(lines), validate=True)
    except (binascii.Error, ValueError):
        return not_a_key
    if match.group(1) == b"OPENSSH PRIVATE KEY":
        return None if body.startswith(_OPENSSH_MAGIC) else not_a_key
    return None if body and (sealed or body[:1] == b"\x30") else not_a_key  # DER: a SEQUENCE
