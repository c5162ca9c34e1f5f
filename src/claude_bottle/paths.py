"""Every host path the tool uses, derived in one place from HOME and the XDG
base-directory variables (in the manner of pipx's paths.py). Made once, by
cli/main.py, and passed down; nothing else asks for the user's home.

    config  $XDG_CONFIG_HOME/claude-bottle  (~/.config/claude-bottle): the user's manifest
    state   $XDG_STATE_HOME/claude-bottle   (~/.local/state/claude-bottle): trusted.json
    data    $XDG_DATA_HOME/claude-bottle    (~/.local/share/claude-bottle): saved sessions

An XDG variable that is unset or empty means its default under the home."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP = "claude-bottle"


def user_home() -> Path:
    """The running user's home, for a caller that was given none (a test, a tool)."""
    return Path.home()


@dataclass(frozen=True)
class HostPaths:
    home: Path
    config: Path
    state: Path
    data: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HostPaths:
        # Without HOME, the password database's (what Path.home() falls back to).
        home = Path(environ.get("HOME") or user_home())

        def base(name: str, default: Path) -> Path:
            return Path(environ.get(name) or default) / APP

        return cls(
            home=home,
            config=base("XDG_CONFIG_HOME", home / ".config"),
            state=base("XDG_STATE_HOME", home / ".local" / "state"),
            data=base("XDG_DATA_HOME", home / ".local" / "share"),
        )

    @property
    def user_manifest(self) -> Path:
        return self.config / "claude-bottle.json"

    @property
    def trust_file(self) -> Path:
        return self.state / "trusted.json"

    @property
    def sessions(self) -> Path:
        return self.data / "sessions"

    @property
    def user_skills(self) -> Path:
        return self.home / ".claude" / "skills"

    def expand(self, name: str) -> Path:
        """A path the user typed: a leading ~ is the home (~user: that user's)."""
        if name == "~" or name.startswith("~/"):
            return self.home / name[2:]
        return Path(name).expanduser()
