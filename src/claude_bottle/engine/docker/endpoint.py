"""Where the docker CLI sends its calls: its current context and that context's
endpoint (`docker context inspect`), and whether the engine runs on this host;
and whether a session may speak the engine's API on the local socket instead
(`api_socket`, chosen once per session)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from claude_bottle.engine.api import EngineTarget
from claude_bottle.engine.docker.runner import DockerCLI
from claude_bottle.engine.docker.socketapi import DEFAULT_SOCKET, DockerSocket
from claude_bottle.errors import UsageError
from claude_bottle.settings import ENVIRONMENT, Settings


def engine_endpoint(context_inspect: str, environ: Mapping[str, str]) -> str:
    """Where the docker CLI sends its calls (pure): the endpoint of its current
    context, from `docker context inspect`, which is DOCKER_HOST's when that is
    set; DOCKER_HOST or the default socket when the CLI would not say (one too
    old to know contexts)."""
    try:
        return str(json.loads(context_inspect)[0]["Endpoints"]["docker"]["Host"])
    except (ValueError, LookupError, TypeError):
        return environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def context_name(context_inspect: str) -> str:
    """The current context's name from `docker context inspect` (pure), or ""."""
    try:
        return str(json.loads(context_inspect)[0]["Name"])
    except (ValueError, LookupError, TypeError):
        return ""


API_MODES = ("", "auto", "cli")
CONFIG_MAX = 1 << 20


def current_context(environ: Mapping[str, str]) -> str:
    """The docker CLI's current context from its config file ("" when none is set)."""
    folder = environ.get("DOCKER_CONFIG") or os.path.join(environ.get("HOME", ""), ".docker")
    try:
        with open(os.path.join(folder, "config.json"), "rb") as f:
            return str(json.loads(f.read(CONFIG_MAX)).get("currentContext") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def socket_candidate(settings: Settings, environ: Mapping[str, str]) -> str | None:
    """The local socket the API may be spoken on, or None for the docker CLI (pure
    but for reading the CLI's config file)."""
    mode = (settings.docker_api or "").lower()
    if mode not in API_MODES:
        raise UsageError(f"{ENVIRONMENT['docker_api']}: '{settings.docker_api}' is not one of auto, cli")
    if mode == "cli" or settings.docker or environ.get("DOCKER_HOST") or environ.get("DOCKER_CONTEXT"):
        return None
    if current_context(environ) not in ("", "default"):
        return None
    return DEFAULT_SOCKET


def api_socket(settings: Settings, environ: Mapping[str, str]) -> DockerSocket | None:
    """The socket client for this session, when the local socket answers."""
    path = socket_candidate(settings, environ)
    if path is None or not Path(path).is_socket():
        return None
    client = DockerSocket(path)
    return client if client.ping() else None


class DockerEndpoint(DockerCLI):
    """The engine's context and endpoint, as the docker CLI names them."""

    context: str
    endpoint: str

    def current_endpoint(self) -> tuple[str, str]:
        """The docker CLI's current context ("" where it cannot say: too old) and
        the endpoint it sends its calls to, in one call."""
        try:
            answer = self.run("context", "inspect", check=False).stdout
        except OSError:
            answer = ""
        return context_name(answer), engine_endpoint(answer, {**os.environ, **self.pins})

    def on_this_host(self) -> bool:
        """True when the CLI reaches its engine over a unix socket: not when
        DOCKER_HOST or the current docker context names an engine elsewhere."""
        return (self.endpoint or self.current_endpoint()[1]).startswith("unix://")

    def target(self) -> EngineTarget:
        return EngineTarget("docker", context=self.pins.get("DOCKER_CONTEXT") or self.context,
                            endpoint=self.endpoint)  # fmt: skip
