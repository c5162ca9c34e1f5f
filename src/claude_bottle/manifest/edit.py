"""Changing a manifest for the user: a host approved "always" is added to its
bottle's `egress.allow`, and the new content is trusted in the same step, but
only over content the user had trusted already (so nobody else's edit is
trusted with it). The file is rewritten as JSON with two-space indents, its
keys in their order; the diff is shown before it is written."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_bottle.errors import ClaudeBottleError
from claude_bottle.manifest.locate import BUILTIN_SOURCE
from claude_bottle.manifest.parse import load_manifest_file, parse_manifest_bytes
from claude_bottle.manifest.trust import distrust_reason, record_trust, trust_command
from claude_bottle.paths import HostPaths


class ManifestChangeRefused(ClaudeBottleError):
    pass


def with_allowed_host(text: str, bottle: str, host: str) -> str:
    """The manifest's text with `host` in bottles.<bottle>.egress.allow (pure)."""
    data: Any = json.loads(text)
    bottles = data.get("bottles") if isinstance(data, dict) else None
    if not isinstance(bottles, dict) or not isinstance(bottles.get(bottle), dict):
        raise ManifestChangeRefused(f"the manifest has no bottle '{bottle}' to add {host} to")
    egress = bottles[bottle].setdefault("egress", {})
    allow = egress.setdefault("allow", [])
    if host not in allow:
        allow.append(host)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def unified_diff(old: str, new: str, path: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), path, path))


@dataclass(frozen=True)
class ManifestChange:
    """A manifest's new content, shown before it is written."""

    path: Path
    old: bytes
    new: bytes

    @property
    def diff(self) -> str:
        return unified_diff(self.old.decode(), self.new.decode(), str(self.path))

    def to_json(self) -> dict[str, str]:
        return {"path": str(self.path), "sha256_before": hashlib.sha256(self.old).hexdigest(),
                "sha256_after": hashlib.sha256(self.new).hexdigest()}  # fmt: skip


def plan_allow_always(source: str, bottle: str, host: str, paths: HostPaths) -> ManifestChange:
    """The change that allows `host` in the manifest a session came from; refused
    for the built-in default and for content the user has not trusted."""
    if source == BUILTIN_SOURCE:
        raise ManifestChangeRefused(
            "the session used the built-in manifest, which has no file to write to; "
            "write one with 'claude-bottle init' and add the host there"
        )
    path = Path(source).resolve()
    current = load_manifest_file(path, paths.home)  # read through the usual checks (size, kind of file)
    reason = distrust_reason(current, paths)
    if reason:
        raise ManifestChangeRefused(
            f"{reason}: it is not changed and trusted for you; review it first ({trust_command(current)})"
        )
    old = path.read_bytes()
    if hashlib.sha256(old).hexdigest() != current.digest:
        raise ManifestChangeRefused(f"{path} changed while it was read; try again")
    new = with_allowed_host(old.decode("utf-8"), bottle, host).encode()
    parse_manifest_bytes(new, str(path), path.parent, paths.home)  # the new content must be a valid manifest
    return ManifestChange(path, old, new)


def write_trusted(change: ManifestChange, paths: HostPaths) -> None:
    """Write the new content (atomically, the file's mode kept) and trust exactly it,
    unless the file changed since the change was made."""
    if change.path.read_bytes() != change.old:
        raise ManifestChangeRefused(f"{change.path} changed since the diff was shown; nothing was written")
    mode = change.path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=".claude-bottle-", dir=change.path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(change.new)
        os.chmod(tmp, mode)
        os.replace(tmp, change.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    record_trust(parse_manifest_bytes(change.new, str(change.path), change.path.parent, paths.home), paths)
