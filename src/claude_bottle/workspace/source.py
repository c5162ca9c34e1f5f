"""The user's folder (--cwd) in the bottle: streamed in as a tar owned by the
agent user, and taken back out (harvest.py) before the container is removed.

What travels: in a git repository, the files git tracks plus the untracked
ones its ignore rules do not exclude, and the whole .git; elsewhere every file.
In both, `.claude-bottle-ignore` (gitignore syntax) can leave more behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError, EngineError, UsageError
from claude_bottle.hostenv import plain_env
from claude_bottle.safe_read import IGNORE_FILE_MAX, HostFileProblem, read_capped_text
from claude_bottle.tarball import AGENT_GID, AGENT_UID
from claude_bottle.workspace.git import git, head_commit
from claude_bottle.workspace.ignore import IGNORE_FILE, Rule, is_ignored, parse_rules


@dataclass(frozen=True)
class WorkspaceSource:
    """What was copied in, remembered so the harvest can tell what changed."""

    folder: Path
    is_git: bool
    entries: tuple[str, ...]  # relative paths, parents before children
    base: str | None = None  # git: the host's HEAD when copied
    snapshot: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # (size, mtime)

    def to_json(self) -> dict[str, object]:
        return {
            "folder": str(self.folder),
            "is_git": self.is_git,
            "base": self.base,
            "snapshot": {k: list(v) for k, v in self.snapshot.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> WorkspaceSource:
        snap = data.get("snapshot") or {}
        assert isinstance(snap, dict)
        base = data.get("base")
        return cls(
            folder=Path(str(data["folder"])),
            is_git=bool(data["is_git"]),
            entries=(),
            base=str(base) if base else None,
            snapshot={str(k): (int(v[0]), int(v[1])) for k, v in snap.items()},
        )


def _with_parents(paths: list[str]) -> tuple[str, ...]:
    out = set(paths)
    for p in paths:
        parts = p.split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return tuple(sorted(out))


def _walk(folder: Path, rules: tuple[Rule, ...], top: str = "") -> list[str]:
    """Every entry below folder (links not followed), minus ignored ones."""
    out: list[str] = []
    start = folder / top if top else folder
    for here, dirs, files in os.walk(start):
        rel_here = Path(here).relative_to(folder).as_posix()
        prefix = "" if rel_here == "." else rel_here + "/"
        kept = []
        for d in sorted(dirs):
            rel = prefix + d
            if not is_ignored(rules, rel, is_dir=True):
                out.append(rel)
                if not (Path(here) / d).is_symlink():
                    kept.append(d)
        dirs[:] = kept
        out += [prefix + f for f in sorted(files) if not is_ignored(rules, prefix + f)]
    return out


def _require_tools(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            raise ClaudeBottleError(f"--cwd needs '{tool}' on this machine; install it or leave out --cwd")


def scan_workspace(folder: Path) -> WorkspaceSource:
    """Decide what to copy and record the state to compare against later."""
    _require_tools("tar", *(("git",) if (folder / ".git").is_dir() else ()))
    rules = parse_rules(_ignore_text(folder))
    if (folder / ".git").is_dir():
        listed = git("ls-files", "-z", "-co", "--exclude-standard", repo=folder).stdout.split("\0")
        files = [p for p in listed if p and not is_ignored(rules, p)]
        files += [".git", *_walk(folder, (), ".git")]
        return WorkspaceSource(folder, True, _with_parents(files), base=head_commit(folder))
    entries = _walk(folder, rules)
    snapshot = {}
    for rel in entries:
        st = (folder / rel).lstat()
        if not os.path.islink(folder / rel) and os.path.isfile(folder / rel):
            snapshot[rel] = (st.st_size, int(st.st_mtime))
    return WorkspaceSource(folder, False, tuple(entries), snapshot=snapshot)


def _ignore_text(folder: Path) -> str:
    """The folder's .claude-bottle-ignore: a regular file of the folder (not a link,
    which could name /dev/zero or a file elsewhere), at most IGNORE_FILE_MAX."""
    file = folder / IGNORE_FILE
    if not file.exists() and not file.is_symlink():
        return ""
    try:
        return read_capped_text(file, IGNORE_FILE_MAX, follow_links=False)
    except HostFileProblem as exc:
        raise UsageError(f"cannot use {IGNORE_FILE}: {exc}") from None


@functools.cache
def _tar_flavour() -> str:
    out = subprocess.run(
        ["tar", "--version"], capture_output=True, text=True, check=False, env=plain_env(os.environ)
    ).stdout
    return "gnu" if "GNU tar" in out else "bsd"


def tar_argv(folder: Path) -> list[str]:
    """tar writing the listed entries (NUL-separated on stdin), owned by the agent user."""
    owner = (
        [f"--owner={AGENT_UID}", f"--group={AGENT_GID}", "--numeric-owner"]
        if _tar_flavour() == "gnu"
        else ["--uid", str(AGENT_UID), "--gid", str(AGENT_GID)]
    )
    return [
        "tar",
        "-C",
        str(folder),
        "-c",
        "-f",
        "-",
        "--no-recursion",
        # No --sparse: the engine's extraction refuses GNU sparse members ("unhandled
        # tar header type 83", Docker 20.10), so a folder holding one sparse file
        # could not be copied in at all. A hole travels as zeros.
        *owner,
        "--null",
        "-T",
        "-",
    ]


def tar_size(folder: Path, entries: tuple[str, ...]) -> int:
    """About how many bytes tar writes for these entries (a header each, contents
    in 512-byte blocks), for the progress line; long names add a little."""
    total = 1024
    for rel in entries:
        try:
            st = os.lstat(folder / rel)
        except OSError:
            continue
        total += 512 + (-(-st.st_size // 512) * 512 if os.path.isfile(folder / rel) else 0)
    return total


def copy_folder_in(engine: Engine, container: str, source: WorkspaceSource, dest: str) -> None:
    """tar | the engine's copy in: the fastest way in, and no build context or host mount.
    On a terminal, its bytes are counted on their way (a progress line)."""
    from claude_bottle.progress import Progress  # only for this step

    progress = Progress(f"copying {source.folder.name} in")
    tar = subprocess.Popen(
        tar_argv(source.folder), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=plain_env(os.environ),
    )  # fmt: skip
    assert tar.stdin is not None
    assert tar.stdout is not None
    assert tar.stderr is not None
    names = b"".join(os.fsencode(e) + b"\0" for e in source.entries)
    # tar reads the names while its output is taken: written from a thread of
    # their own, so that neither waits on the other.
    writer = threading.Thread(target=_write_names, args=(tar.stdin, names), daemon=True)
    writer.start()
    relay: threading.Thread | None = None
    stream: IO[bytes] = tar.stdout
    if progress.shown:
        progress.total = tar_size(source.folder, source.entries)
        stream, relay = progress.relay(tar.stdout)
    try:
        try:
            with progress:
                engine.copy_in(container, dest, stream)  # it closes the stream: tar sees a broken pipe then
        except EngineError as exc:
            raise exc.saying(f"cannot copy {source.folder} into the bottle") from None
    except BaseException:
        tar.kill()
        with contextlib.suppress(OSError):
            stream.close()  # a relay still writing into it stops
        raise
    finally:
        writer.join()
        if relay is not None:
            relay.join()
        tar_err = tar.stderr.read()
        tar.stderr.close()
        tar.wait()
    if tar.returncode != 0:
        raise ClaudeBottleError(
            f"cannot copy {source.folder} into the bottle (tar exit {tar.returncode}): "
            + tar_err.decode("utf-8", "replace").strip()
        )


def _write_names(stdin: IO[bytes], names: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):  # tar failed; its stderr says why
        stdin.write(names)
    with contextlib.suppress(BrokenPipeError):
        stdin.close()
