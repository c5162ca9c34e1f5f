"""Which manifest applies: --manifest, $CLAUDE_BOTTLE_MANIFEST, the nearest
claude-bottle.json upwards, the user's config file, else the built-in default."""

from __future__ import annotations

import os
from pathlib import Path

from claude_bottle.errors import ManifestError
from claude_bottle.manifest.defaults import DEFAULT_MANIFEST
from claude_bottle.manifest.model import Manifest
from claude_bottle.manifest.parse import load_manifest_file, parse_manifest
from claude_bottle.paths import HostPaths
from claude_bottle.safe_read import reached

MANIFEST_NAME = "claude-bottle.json"
BUILTIN_SOURCE = "<built-in default manifest>"


def named_file(cwd: Path, name: str, origin: str, paths: HostPaths) -> Path:
    """A manifest named by the user: it must exist (a FIFO or a device does, and
    reading refuses it, saying what it is); any name is an error, never a crash.
    The path as reached (safe_read.reached): a link is not replaced by its target."""
    shown = name if len(name) <= 200 else name[:200] + "..."
    try:
        path = reached(cwd / paths.expand(name))
        os.stat(path)
    except FileNotFoundError:
        raise ManifestError(str(path), "", f"no such file (named by {origin})") from None
    except (OSError, ValueError, RuntimeError) as exc:  # too long, NUL byte, a link loop
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ManifestError(repr(shown), "", f"cannot use this path (named by {origin}): {reason}") from None
    return path


def find_manifest(
    cwd: Path, explicit: str | None, from_settings: str | None, paths: HostPaths
) -> Path | None:
    """The manifest file to read (`explicit`: --manifest; `from_settings`:
    CLAUDE_BOTTLE_MANIFEST), or None for the built-in default."""
    chosen = explicit or from_settings
    if chosen:
        return named_file(cwd, chosen, "--manifest" if explicit else "CLAUDE_BOTTLE_MANIFEST", paths)
    for folder in (cwd, *cwd.parents):
        candidate = folder / MANIFEST_NAME
        if candidate.is_file():
            return candidate
    user = paths.user_manifest
    return user if user.is_file() else None


def load_manifest(
    cwd: Path, paths: HostPaths, explicit: str | None = None, from_settings: str | None = None
) -> Manifest:
    path = find_manifest(cwd, explicit, from_settings, paths)
    if path is None:
        return parse_manifest(DEFAULT_MANIFEST, BUILTIN_SOURCE, cwd, home=paths.home)
    return load_manifest_file(path, paths.home)
