"""Which engine runs bottles: CLAUDE_BOTTLE_ENGINE (or the global --engine
option), "docker" by default. The Kubernetes engine is imported only when
chosen. `describe()` and `from_description` carry the choice to the watchdog,
which runs in a process of its own. This module is the one way in to an engine
for the layers above: nothing outside engine/ names an engine class
(tests/unit/test_engine_seam.py)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

from claude_bottle.engine.api import Engine, EngineTarget, ImageStore
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.settings import ENVIRONMENT, Settings

ENGINES = ("docker", "kubernetes")
KUBERNETES_MODULE = "claude_bottle.engine.kubernetes"


def chosen(settings: Settings) -> str:
    name = settings.engine or "docker"
    if name not in ENGINES:
        raise UsageError(
            f"{ENVIRONMENT['engine']}: '{name}' is not an engine claude-bottle knows ({', '.join(ENGINES)})"
        )
    return name


def locate(settings: Settings) -> Engine:
    """The chosen engine, checked to answer."""
    if chosen(settings) == "kubernetes":
        engine: Engine = _kubernetes().locate(settings)
        return engine
    return DockerEngine.locate(settings)


def image_store(settings: Settings) -> ImageStore:
    """Where claude-bottle builds its images (`build`): the Docker engine's own
    store, whichever engine runs bottles (others pull them from a registry)."""
    return DockerEngine.locate(settings)


def planned_target(settings: Settings) -> EngineTarget:
    """Where bottles would run, without an engine that answers (a dry run): the
    Kubernetes context and namespace from the kubeconfig, Docker's from its
    environment (an empty field: the docker CLI's current one)."""
    if chosen(settings) == "kubernetes":
        try:
            target: EngineTarget = _kubernetes().configured_target(settings)
            return target
        except ClaudeBottleError:
            return EngineTarget("kubernetes", context=settings.k8s_context or "",
                                namespace=settings.k8s_namespace or "")  # fmt: skip
    host = os.environ.get("DOCKER_HOST", "")
    return EngineTarget("docker", context="" if host else os.environ.get("DOCKER_CONTEXT", ""), endpoint=host)


def from_description(args: Sequence[str], settings: Settings) -> Engine:
    """The engine an `Engine.describe()` named, made again without probing it."""
    kind, *rest = args
    if kind == "docker":
        return DockerEngine.described(*rest)
    if kind == "kubernetes":
        engine: Engine = _kubernetes().from_description(tuple(rest), settings)
        return engine
    raise UsageError(f"not an engine's description: {' '.join(args)}")


def _kubernetes() -> Any:
    try:
        module = importlib.import_module(KUBERNETES_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != KUBERNETES_MODULE:  # it is there, but needs a package that is not
            raise UsageError(f"the kubernetes engine needs the Python module '{exc.name}'") from None
        raise UsageError(
            "the kubernetes engine is not in this version of claude-bottle; "
            f"use the docker engine ({ENVIRONMENT['engine']}=docker)"
        ) from None
    return module.KubernetesEngine
