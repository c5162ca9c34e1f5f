"""Where the docker CLI sends its calls: its current context and that context's
endpoint (`docker context inspect`), and whether the engine runs on this host."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from claude_bottle.engine.api import EngineTarget
from claude_bottle.engine.docker.runner import DockerCLI


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
