"""A session's evidence: one record per session, as hash-chained JSON Lines.

`record.jsonl` in the session folder holds, in the order they happened: the
session's start (its plan, the manifest's digest and whether it was trusted,
the engine and where), the containers and the ids of their images, every live
approval of a host, every egress decision of the proxy, the transcript files
kept, the work brought back, and the end. A reviewer or an auditor can read it
with any JSON tool; `claude-bottle sessions verify` checks it.

Each line is one entry, written as canonical JSON (keys sorted, no spaces,
UTF-8), and holds the hash of the entry before it:

    {"at": ..., "data": {...}, "hash": H(n), "kind": ..., "prev": H(n-1), "seq": n, "v": 1}

where H(n) is the sha256 of the entry's canonical JSON without its "hash".
The first entry's "prev" is 64 zeros. So an entry changed, removed, added or
moved breaks the chain at that point, and any byte changed anywhere makes a
line that is not the canonical form of its own content. A chain can be
recomputed whole by whoever can write the file; the head hash (printed at the
end of the session and by `sessions verify`) kept elsewhere anchors it.

Writers take the file's lock (flock) for each append: the session's own CLI
and `claude-bottle allow` in another process write to the same record. The
format's JSON Schema is `record_schema.SCHEMA` (`claude-bottle sessions
schema`), versioned by "v"."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from claude_bottle.errors import ClaudeBottleError

VERSION = 1
GENESIS = "0" * 64
NAME = "record.jsonl"
# What an entry may record, in the order a session writes them.
KINDS = ("session", "containers", "approval", "egress", "transcripts", "work", "end")


class RecordError(ClaudeBottleError):
    """A record that cannot be read or appended to."""


def canonical(value: Any) -> str:
    """The one JSON text of a value: keys sorted, no spaces, UTF-8, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256 of the entry's canonical JSON without its own "hash"."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _last_line(f: IO[bytes]) -> bytes:
    """The file's last line (without its newline), read from the end."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    if end == 0:
        return b""
    chunk, pos, tail = 4096, end, b""
    while pos > 0:
        pos = max(0, pos - chunk)
        f.seek(pos)
        tail = f.read(end - pos)
        if tail.rstrip(b"\n").rfind(b"\n") >= 0:
            break
    return tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]


@dataclass(frozen=True)
class SessionRecord:
    path: Path

    @classmethod
    def in_folder(cls, folder: Path) -> SessionRecord:
        return cls(folder / NAME)

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The record's folder locked (flock on the folder: no file is made just to
        hold a lock, so an append cut short before it wrote leaves no empty record)."""
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # and the lock with it

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Appender]:
        """The record locked for a read-then-append (an approval reads the ones
        before it): nobody else appends meanwhile."""
        with self._locked():
            yield Appender(self)

    def append(self, kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
        return self.extend([(kind, data)])[-1]

    def extend(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
        """Append entries in one locked write; the entries as written."""
        try:
            with self.transaction() as appender:
                return appender.extend(entries)
        except OSError as exc:
            raise RecordError(
                f"cannot write the session's record {self.path}: {exc.strerror or exc}"
            ) from None

    def entries(self) -> list[dict[str, Any]]:
        """The entries as they are (not checked: see `verify`)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise RecordError(f"cannot read {self.path}: {exc}") from None
        out = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e.get("kind") == kind]


@dataclass
class Appender:
    record: SessionRecord

    def entries(self) -> list[dict[str, Any]]:
        return self.record.entries()

    def _head(self) -> dict[str, Any] | None:
        try:
            with self.record.path.open("rb") as f:
                last = _last_line(f)
        except FileNotFoundError:
            return None
        try:
            head = json.loads(last) if last else None
        except ValueError:
            raise RecordError(f"{self.record.path}: its last line is not JSON; not appending") from None
        return head if isinstance(head, dict) else None

    def extend(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
        head = self._head()
        prev = str(head["hash"]) if head is not None and "hash" in head else GENESIS
        seq = int(head["seq"]) + 1 if head is not None and "seq" in head else 0
        written, lines = [], []
        for kind, data in entries:
            if kind not in KINDS:
                raise RecordError(f"not a kind of record entry: {kind}")
            entry: dict[str, Any] = {"v": VERSION, "seq": seq, "at": now(), "kind": kind,
                                     "data": dict(data), "prev": prev}  # fmt: skip
            entry["hash"] = prev = entry_hash(entry)
            lines.append(canonical(entry) + "\n")
            written.append(entry)
            seq += 1
        payload = "".join(lines).encode()
        fd = os.open(self.record.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        return written


@dataclass(frozen=True)
class Verdict:
    entries: int
    head: str
    problems: tuple[str, ...] = field(default=())
    ended: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(data: bytes) -> Verdict:
    """Check a record's bytes (pure): every line the canonical JSON of an entry
    whose hash is its own, each holding the hash of the one before, numbered
    from 0, and nothing after the last newline."""
    problems: list[str] = []
    prev, count, ended = GENESIS, 0, False
    if not data:
        return Verdict(entries=0, head=GENESIS, problems=("the record is empty (nothing was written to it)",))
    if not data.endswith(b"\n"):
        problems.append("the record does not end with a newline (cut short, or changed after its end)")
    for number, raw in enumerate(data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"), 1):
        where = f"line {number}"
        try:
            text = raw.decode("utf-8")
            entry = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            problems.append(f"{where}: not JSON")
            break
        if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str):
            problems.append(f"{where}: not an entry")
            break
        if canonical(entry) != text:
            problems.append(f"{where}: not written as the record writes (a byte changed?)")
            break
        if entry.get("seq") != count:
            problems.append(f"{where}: entry number {entry.get('seq')!r}, expected {count}")
            break
        if entry.get("prev") != prev:
            problems.append(f"{where}: does not follow the entry before it (removed, added or moved?)")
            break
        if entry_hash(entry) != entry["hash"]:
            problems.append(f"{where}: its content does not match its hash (changed?)")
            break
        prev, count = entry["hash"], count + 1
        ended = entry.get("kind") == "end"
    if count == 0 and not problems:
        problems.append("the record is empty")
    return Verdict(entries=count, head=prev, problems=tuple(problems), ended=ended)


def verify_file(path: Path) -> Verdict:
    try:
        return verify(path.read_bytes())
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror or exc}") from None


def by_whom(via: str) -> dict[str, Any]:
    """Who acted: this process's user, host and pid, and the command it ran."""
    try:
        import getpass

        user = getpass.getuser()
    except (ImportError, KeyError, OSError):
        user = str(os.getuid())
    return {"user": user, "host": os.uname().nodename, "pid": os.getpid(), "via": via}


def file_facts(root: Path, paths: Sequence[Path], *, digest: bool = True) -> list[dict[str, Any]]:
    """Each file's path (relative to root), size and sha256."""
    out = []
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        fact: dict[str, Any] = {"path": path.relative_to(root).as_posix(), "size": size}
        if digest:
            h = hashlib.sha256()
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            fact["sha256"] = h.hexdigest()
        out.append(fact)
    return out
