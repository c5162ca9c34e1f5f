"""Checks and preparations before a session creates anything: the bottle's
proxy can carry it, the engine can run that proxy (the floor under it), the
bottle's runtime is registered
with the engine, and, on an engine with its own image store (Docker's), the
images are there (built or pulled) and the engine has no known fault that
would let a bottle past its wall (engine/dnsleak.py)."""

from __future__ import annotations

import os

from claude_bottle.bottle.agent import env_values
from claude_bottle.bottle.floor import refuse_unguardable
from claude_bottle.bottle.image import ensure_image, image_is_current
from claude_bottle.console import info
from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.plan.images import agent_image_build, squid_image_build
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from claude_bottle.session.concurrency import run_together
from claude_bottle.settings import Settings

RUNSC_HELP = (
    "the bottle asks for runtime runsc (gVisor), and this Docker engine has no runtime of that "
    "name. Install gVisor (Debian/Ubuntu: apt-get install runsc; others: "
    "https://gvisor.dev/docs/user_guide/install/), register it in /etc/docker/daemon.json "
    '({"runtimes": {"runsc": {"path": "/usr/bin/runsc"}}}) and reload dockerd. '
    "gVisor runs only on Linux: Docker Desktop on macOS is not supported."
)


def runtime_problem(runtime: str, registered: frozenset[str]) -> str | None:
    """Why `runtime` cannot be used given the engine's runtimes, or None (pure)."""
    if runtime == "runc":
        return None
    return None if runtime in registered else RUNSC_HELP


def _check_runtime(engine: Engine, runtime: str) -> None:
    if runtime == "runc":
        return
    problem = runtime_problem(runtime, engine.runtimes())
    if problem:
        raise ClaudeBottleError(problem)


def _check_known_fault(engine: Engine) -> None:
    verdict = engine.known_fault()
    if verdict is None:
        return
    level, message = verdict
    if level == "refuse":
        raise ClaudeBottleError(message)
    info(message)


def refuse_unworkable_proxy(plan: LaunchPlan) -> None:
    """A proxy that would refuse the session's own traffic is refused first."""
    problem = plan.proxy.refusal(plan.proxy_spec())
    if problem:
        raise UsageError(f"bottles.{plan.bottle.name}: {problem}")


def preflight(engine: Engine, plan: LaunchPlan, settings: Settings) -> None:
    refuse_unworkable_proxy(plan)
    refuse_unguardable(plan, engine.capabilities)
    store = engine.images()
    if store is None:  # an engine that takes its images from a registry
        _check_runtime(engine, plan.bottle.runtime)
        return
    # A value the engine cannot hand to the container is refused before anything is made.
    engine.refuse_environment(env_values(plan, os.environ))
    build = agent_image_build(plan.image, settings=settings)
    # The Squid image is ours: built here like the agent's. Any other sidecar
    # image (Pipelock's, or one named by CLAUDE_BOTTLE_SIDECAR_IMAGE) is pulled.
    squid = (
        squid_image_build(plan.sidecar_image, settings=settings)
        if plan.sidecar_image == SQUID_IMAGE
        else None
    )
    agent_ok, sidecar_ok, _, _, _ = run_together(
        lambda: image_is_current(store, build),
        lambda: image_is_current(store, squid) if squid else store.image_exists(plan.sidecar_image),
        lambda: _check_runtime(engine, plan.bottle.runtime),
        lambda: _check_known_fault(engine),
        engine.storage_limit_problem,  # asked now, so the agent's start does not wait for it
    )
    if not agent_ok:
        ensure_image(store, build)
    if not sidecar_ok and squid is not None:
        ensure_image(store, squid)
    elif not sidecar_ok:
        info(f"pulling the egress sidecar image {plan.sidecar_image}")
        if not store.pull(plan.sidecar_image):
            raise ClaudeBottleError(
                f"the egress sidecar image {plan.sidecar_image} is not available and could not be "
                "pulled; load it into the engine, or name another with CLAUDE_BOTTLE_SIDECAR_IMAGE"
            )
