"""Trust before use. A manifest found in a working tree (or named by path) may
come from a repository someone else wrote; it is used only once the user has
trusted that exact content, as direnv's `allow` and mise's `trust` do.

What is trusted is the path the user reached the manifest by (a link keeps its
own place: a repository's `claude-bottle.json` linking into the user's config
folder is the repository's, not the user's) together with everything the
trust pins: where that path leads, and the sha256 of the manifest's bytes, of
every prompt file and of every file of every skill its agents name (with the
file's mode, since an executable bit is a change too). A change to any of
them, or the same file reached elsewhere, needs trusting again.

The record is $XDG_STATE_HOME/claude-bottle/trusted.json (default
~/.local/state): for each path, `{"version": 2, "real": ..., "files": {...}}`.
A record of an earlier claude-bottle (the manifest's digest alone, as a string)
is not enough any more: such a manifest asks to be trusted again, saying why.
The built-in default and the user's own files under the config folder (reached
there, not linked to from elsewhere) are trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_bottle.errors import ClaudeBottleError
from claude_bottle.manifest.locate import BUILTIN_SOURCE
from claude_bottle.manifest.model import Manifest
from claude_bottle.manifest.skills import find_skill
from claude_bottle.paths import HostPaths
from claude_bottle.safe_read import MIB, HostFileProblem, inside, read_capped, read_folder

EXIT_UNTRUSTED = 3
RECORD_VERSION = 2


class UntrustedManifest(ClaudeBottleError):
    """A manifest the user has not trusted (or that changed since); exit status 3."""

    exit_code = EXIT_UNTRUSTED


def needs_trust(manifest: Manifest, paths: HostPaths) -> bool:
    """False for the built-in default and for a manifest reached inside the user's
    config folder; a link to it from anywhere else needs trust like any file."""
    if manifest.source == BUILTIN_SOURCE:
        return False
    own = Path(os.path.realpath(paths.user_manifest.parent))
    return not inside(Path(manifest.source), own)


def _records(paths: HostPaths) -> dict[str, Any]:
    try:
        data = json.loads(read_capped(paths.trust_file, 16 * MIB))
    except (HostFileProblem, ValueError):
        return {}  # missing or unreadable: nothing is trusted
    return {str(k): v for k, v in data.items()} if isinstance(data, dict) else {}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pinned(manifest: Manifest, home: Path) -> dict[str, Any]:
    """What trusting `manifest` pins, as it is now: the file its path leads to,
    and the digests of that file, every prompt file and every skill's files
    (a file that cannot be read is pinned as such, with why)."""
    files: dict[str, str] = {manifest.real_source or manifest.source: manifest.digest}
    for agent in manifest.agents.values():
        if agent.prompt_file is not None:
            files[str(agent.prompt_file)] = _digest(agent.prompt.encode())  # the bytes the bottle gets
        for name in agent.skills:
            folder = find_skill(name, manifest.base_dir, home)
            if folder is None:
                files[f"skill {name}"] = "not found"
                continue
            try:
                items = read_folder(folder)
            except HostFileProblem as exc:
                files[str(folder)] = f"unreadable: {exc}"
                continue
            files.update(
                {f"{folder}/{i.rel}": f"{_digest(i.data)} {i.mode:o}" for i in items if i.data is not None}
            )
    return {"version": RECORD_VERSION, "real": manifest.real_source or manifest.source, "files": files}


def trusted_digest(source: str, paths: HostPaths) -> str | None:
    """The manifest file's digest as its trust record pins it (None: no record)."""
    record = _records(paths).get(source)
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return None
    found = record["files"].get(record.get("real") or source)
    return found if isinstance(found, str) else None


def trust_facts(source: str, digest: str, paths: HostPaths) -> dict[str, object]:
    """For a session's record: the manifest's path and digest, whether it needs
    trusting, and whether that exact content was trusted."""
    stand_in = Manifest(source=source, base_dir=Path(source).parent, bottles={}, agents={}, digest=digest)
    needs = needs_trust(stand_in, paths)
    return {"path": source, "sha256": digest, "needs_trust": needs,
            "trusted": not needs or trusted_digest(source, paths) == digest}  # fmt: skip


def is_trusted(manifest: Manifest, paths: HostPaths) -> bool:
    return not needs_trust(manifest, paths) or _records(paths).get(manifest.source) == pinned(
        manifest, paths.home
    )


def record_trust(manifest: Manifest, paths: HostPaths) -> Path:
    """Remember this exact content at this path as trusted (written atomically)."""
    file = paths.trust_file
    records = _records(paths)
    records[manifest.source] = pinned(manifest, paths.home)
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".trusted-", dir=file.parent)
    with os.fdopen(fd, "w") as out:
        json.dump(records, out, indent=1, sort_keys=True)
        out.write("\n")
    os.replace(tmp, file)
    return file


def trust_command(manifest: Manifest) -> str:
    return f"claude-bottle trust {shlex.quote(manifest.source)}"


def _changed_files(was: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    return sorted(path for path in was.keys() | now.keys() if was.get(path) != now.get(path))


def distrust_reason(manifest: Manifest, paths: HostPaths) -> str | None:
    """Why this manifest may not be used yet, or None when it may."""
    if is_trusted(manifest, paths):
        return None
    record = _records(paths).get(manifest.source)
    source = manifest.source
    if record is None:
        return (
            f"{source} is not trusted yet (it comes from this folder or a parent, or was named "
            "by path, so someone else may have written it)"
        )
    now = pinned(manifest, paths.home)
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return (
            f"{source} was trusted by an earlier claude-bottle, which pinned the manifest's own bytes "
            "alone; trusting it again pins its prompt files and skills too"
        )
    if record.get("real") != now["real"]:
        return f"{source} now leads to {now['real']} (it led to {record.get('real')} when you trusted it)"
    was = record.get("files") if isinstance(record.get("files"), dict) else {}
    assert isinstance(was, dict)
    changed = _changed_files(was, now["files"])
    if now["real"] in changed:
        return f"{source} changed since you trusted it"
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return f"{source} changed since you trusted it: {shown} changed"


def require_trust(manifest: Manifest, paths: HostPaths) -> None:
    reason = distrust_reason(manifest, paths)
    if reason:
        raise UntrustedManifest(f"{reason}; review it, then run: {trust_command(manifest)}")
