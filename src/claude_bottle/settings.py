"""Every CLAUDE_BOTTLE_* setting, read from the environment into one object, each
field with its environment name beside it (in the manner of testcontainers'
core/config.py). Nothing else in the package reads a CLAUDE_BOTTLE_* variable;
the README's "Environment overrides" table is checked against ENVIRONMENT by
tests/unit/test_settings.py.

Values are kept as given; what they mean (a path, a range, a number of seconds)
is checked where they are used, with a message naming the variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


def _env(name: str, default: object = None) -> Any:
    return field(default=default, metadata={"env": name})


@dataclass(frozen=True)
class Settings:
    image: str | None = _env("CLAUDE_BOTTLE_IMAGE")
    container: str | None = _env("CLAUDE_BOTTLE_CONTAINER")
    # Whether a token is set: its value is read by name when the agent starts, never kept here.
    oauth_token: bool = _env("CLAUDE_BOTTLE_OAUTH_TOKEN", False)
    container_home: str | None = _env("CLAUDE_BOTTLE_CONTAINER_HOME")
    derived_image: bool = _env("CLAUDE_BOTTLE_DERIVED_IMAGE", False)
    sidecar_image: str | None = _env("CLAUDE_BOTTLE_SIDECAR_IMAGE")
    # REGISTRY[/PREFIX] that `build --push` pushes to and the Kubernetes engine pulls from.
    registry: str | None = _env("CLAUDE_BOTTLE_REGISTRY")
    labels: str = _env("CLAUDE_BOTTLE_LABELS", "")
    dry_run: bool = _env("CLAUDE_BOTTLE_DRY_RUN", False)
    extra_ca: str | None = _env("CLAUDE_BOTTLE_EXTRA_CA")
    sidecar_timeout: str | None = _env("CLAUDE_BOTTLE_SIDECAR_TIMEOUT")
    egress_network: str | None = _env("CLAUDE_BOTTLE_EGRESS_NETWORK")
    subnets: str | None = _env("CLAUDE_BOTTLE_SUBNETS")
    manifest: str | None = _env("CLAUDE_BOTTLE_MANIFEST")
    docker: str | None = _env("CLAUDE_BOTTLE_DOCKER")
    engine: str | None = _env("CLAUDE_BOTTLE_ENGINE")
    # "cli": every Docker call through the docker CLI, never the local socket's API
    # (engine/docker/endpoint.py chooses).
    docker_api: str | None = _env("CLAUDE_BOTTLE_DOCKER_API")
    # The Kubernetes engine's (engine/k8s/config.py checks them).
    k8s_context: str | None = _env("CLAUDE_BOTTLE_K8S_CONTEXT")
    k8s_namespace: str | None = _env("CLAUDE_BOTTLE_K8S_NAMESPACE")
    k8s_exclude_cidrs: str | None = _env("CLAUDE_BOTTLE_K8S_EXCLUDE_CIDRS")
    k8s_egress_ports: str | None = _env("CLAUDE_BOTTLE_K8S_EGRESS_PORTS")
    k8s_pull_policy: str | None = _env("CLAUDE_BOTTLE_K8S_PULL_POLICY")
    k8s_start_timeout: str | None = _env("CLAUDE_BOTTLE_K8S_START_TIMEOUT")
    # Caps on what a session brings out of its bottle (workspace/outflow.py checks them).
    harvest_file_max: str | None = _env("CLAUDE_BOTTLE_HARVEST_FILE_MAX")
    harvest_max: str | None = _env("CLAUDE_BOTTLE_HARVEST_MAX")
    # Seconds a warm pool's keeper waits with no claim before it ends (session/pool_keeper.py).
    pool_idle: str | None = _env("CLAUDE_BOTTLE_POOL_IDLE")
    verbose: bool = _env("CLAUDE_BOTTLE_VERBOSE", False)
    debug: bool = _env("CLAUDE_BOTTLE_DEBUG", False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if f.type == "bool":
                # DRY_RUN and VERBOSE mean "1"; DEBUG, DERIVED_IMAGE and the token any value.
                strict = f.name in ("dry_run", "verbose")
                values[f.name] = raw == "1" if strict else bool(raw)
            elif f.type == "str":
                values[f.name] = raw or ""
            else:
                values[f.name] = raw or None
        return cls(**values)  # type: ignore[arg-type]


ENVIRONMENT: dict[str, str] = {f.name: f.metadata["env"] for f in fields(Settings)}
