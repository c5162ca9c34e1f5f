"""The manifest's model: frozen dataclasses for bottles, agents and their parts,
as parse.py builds them from claude-bottle.json."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from claude_bottle.errors import ManifestError

RUNTIMES = ("runc", "runsc")
DLP_MODES = ("block", "warn", "off")
PROXIES = ("squid", "pipelock")

# Variables the launcher sets itself; a manifest that set them would break the
# agent's route to its proxy or its login, so they are refused up front.
RESERVED_ENV = frozenset(
    {
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "HOME",
    }
)


@dataclass(frozen=True)
class EnvVar:
    """One variable for the agent. `literal` is None when the value comes from the host."""

    name: str
    literal: str | None = None
    host_var: str | None = None
    optional: bool = False
    # The host the sidecar adds this credential for ({"inject": "github.com"}),
    # and whether the manifest keeps it inside the bottle ({"inject": false}).
    inject: str | None = None
    keep_inside: bool = False

    @property
    def origin(self) -> str:
        """Where the value comes from, for the plan (never the value itself)."""
        if self.literal is not None:
            return "manifest"
        return "host" if self.host_var == self.name else f"host ${self.host_var}"


@dataclass(frozen=True)
class SshEntry:
    host: str
    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    # {"inject": false}: the key file goes into the bottle rather than into its
    # sidecar's ssh-agent (where the proxy has none, it goes in anyway: the plan says so).
    key_inside: bool = False

    @property
    def target(self) -> str:
        """The name ssh actually connects to."""
        return self.hostname or self.host


@dataclass(frozen=True)
class Egress:
    allow: tuple[str, ...]
    internal: tuple[str, ...] = ()
    network: str | None = None
    dlp: Literal["block", "warn", "off"] = "block"
    proxy: Literal["squid", "pipelock"] = "squid"
    sni: bool = True

    @property
    def all_hosts(self) -> tuple[str, ...]:
        return self.allow + tuple(h for h in self.internal if h not in self.allow)


@dataclass(frozen=True)
class Limits:
    memory: str = "8g"
    cpus: float = 2.0
    pids: int = 1024
    disk: str = "32g"  # where the engine's storage driver can limit it


@dataclass(frozen=True)
class Bottle:
    name: str
    egress: Egress
    runtime: Literal["runc", "runsc"] = "runc"
    limits: Limits = Limits()


@dataclass(frozen=True)
class Agent:
    name: str
    bottle: str
    prompt: str = ""
    env: tuple[EnvVar, ...] = ()
    skills: tuple[str, ...] = ()
    ssh: tuple[SshEntry, ...] = ()
    claude_setup: tuple[str, ...] = ()  # parts of the user's ~/.claude to copy in
    prompt_file: Path | None = None  # resolved; inside the manifest's folder
    prompt_file_name: str = ""  # as the manifest wrote it


@dataclass(frozen=True)
class Manifest:
    source: str
    base_dir: Path
    bottles: Mapping[str, Bottle]
    agents: Mapping[str, Agent]
    digest: str = ""  # sha256 of the file's bytes ("" for the built-in default)
    # The file `source` leads to, links resolved ("" for the built-in default).
    # `source` is the path the user reached it by; relative paths in it are
    # looked up from this file's folder (`base_dir`).
    real_source: str = ""

    def agent(self, name: str) -> Agent:
        try:
            return self.agents[name]
        except KeyError:
            known = ", ".join(sorted(self.agents)) or "(none)"
            raise ManifestError(self.source, "agents", f"no agent named '{name}' (agents: {known})") from None
