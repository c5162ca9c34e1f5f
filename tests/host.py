"""The host context as cli/main.py makes it, for tests that call below the CLI:
read from this process's environment (which a test may have monkeypatched)."""

from __future__ import annotations

import os
from pathlib import Path

from claude_bottle.manifest.locate import load_manifest
from claude_bottle.manifest.model import Manifest
from claude_bottle.paths import HostPaths
from claude_bottle.settings import Settings


def host_paths() -> HostPaths:
    return HostPaths.from_environ(os.environ)


def load_here(cwd: Path, explicit: str | None = None) -> Manifest:
    """The manifest `start` would load in `cwd` with --manifest `explicit`."""
    return load_manifest(cwd, host_paths(), explicit, Settings.from_environ(os.environ).manifest)
