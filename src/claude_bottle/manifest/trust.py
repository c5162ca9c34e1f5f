"""Trust before use. A manifest found in a working tree (or named by path) may
come from a repository someone else wrote; it is used only once the user has
trusted that exact content, as direnv's `allow` and mise's `trust` do.

What is trusted is the pair (resolved path, sha256 of the bytes): a changed
file, or the same file moved elsewhere, needs trusting again. The record is
$XDG_STATE_HOME/claude-bottle/trusted.json (default ~/.local/state). The
built-in default and the user's own file under the config folder are trusted.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from collections.abc import Mapping
from pathlib import Path

from claude_bottle.errors import ClaudeBottleError
from claude_bottle.hostfiles import MIB, HostFileProblem, inside, read_capped
from claude_bottle.manifest.locate import BUILTIN_SOURCE, user_config_manifest
from claude_bottle.manifest.model import Manifest

EXIT_UNTRUSTED = 3


class UntrustedManifest(ClaudeBottleError):
    """A manifest the user has not trusted (or that changed since); exit status 3."""

    exit_code = EXIT_UNTRUSTED


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def trust_file(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or str(_home(environ) / ".local" / "state")
    return Path(base) / "claude-bottle" / "trusted.json"


def needs_trust(manifest: Manifest, environ: Mapping[str, str]) -> bool:
    if manifest.source == BUILTIN_SOURCE:
        return False
    own = user_config_manifest(environ).parent.resolve()
    return not inside(Path(manifest.source).resolve(), own)


def _records(environ: Mapping[str, str]) -> dict[str, str]:
    try:
        data = json.loads(read_capped(trust_file(environ), 16 * MIB))
    except (HostFileProblem, ValueError):
        return {}  # missing or unreadable: nothing is trusted
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def trusted_digest(manifest: Manifest, environ: Mapping[str, str]) -> str | None:
    return _records(environ).get(str(Path(manifest.source).resolve()))


def trust_facts(source: str, digest: str, environ: Mapping[str, str]) -> dict[str, object]:
    """For a session's record: the manifest's path and digest, whether it needs
    trusting, and whether that exact content was trusted."""
    stand_in = Manifest(source=source, base_dir=Path(source).parent, bottles={}, agents={}, digest=digest)
    needs = needs_trust(stand_in, environ)
    return {"path": source, "sha256": digest, "needs_trust": needs,
            "trusted": not needs or trusted_digest(stand_in, environ) == digest}  # fmt: skip


def is_trusted(manifest: Manifest, environ: Mapping[str, str]) -> bool:
    return not needs_trust(manifest, environ) or trusted_digest(manifest, environ) == manifest.digest


def record_trust(manifest: Manifest, environ: Mapping[str, str]) -> Path:
    """Remember this exact content at this path as trusted (written atomically)."""
    file = trust_file(environ)
    records = _records(environ)
    records[str(Path(manifest.source).resolve())] = manifest.digest
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".trusted-", dir=file.parent)
    with os.fdopen(fd, "w") as out:
        json.dump(records, out, indent=1, sort_keys=True)
        out.write("\n")
    os.replace(tmp, file)
    return file


def trust_command(manifest: Manifest) -> str:
    return f"claude-bottle trust {shlex.quote(str(Path(manifest.source).resolve()))}"


def distrust_reason(manifest: Manifest, environ: Mapping[str, str]) -> str | None:
    """Why this manifest may not be used yet, or None when it may."""
    if is_trusted(manifest, environ):
        return None
    if trusted_digest(manifest, environ) is not None:
        return f"{manifest.source} changed since you trusted it"
    return (
        f"{manifest.source} is not trusted yet (it comes from this folder or a parent, or was named "
        "by path, so someone else may have written it)"
    )


def require_trust(manifest: Manifest, environ: Mapping[str, str]) -> None:
    reason = distrust_reason(manifest, environ)
    if reason:
        raise UntrustedManifest(f"{reason}; review it, then run: {trust_command(manifest)}")
