"""Checks and preparations before a session creates anything: the bottle's
proxy can carry it, the engine can run that proxy (the floor under it), the
bottle's runtime is registered
with the engine, and, on the Docker engine, the images are there (built or
pulled) and the engine does not leak DNS from internal networks (dnsleak.py)."""

from __future__ import annotations

import os
from pathlib import Path

from claude_bottle.bottle.agent import env_values
from claude_bottle.bottle.floor import refuse_unguardable
from claude_bottle.bottle.image import ensure_image, image_is_current
from claude_bottle.console import info
from claude_bottle.engine.api import Engine
from claude_bottle.engine.docker import DockerEngine, env_file_text
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.plan.images import agent_image_build, squid_image_build
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from claude_bottle.safe_read import SYSTEM_FILE_MAX, HostFileProblem, read_capped_text
from claude_bottle.session.concurrency import run_together
from claude_bottle.session.dnsleak import dns_leak_verdict, engine_leaks_dns
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


def _engine_host_resolv_conf(engine: DockerEngine) -> str | None:
    """The engine host's resolver config, when the engine runs on this host."""
    if not engine.on_this_host():
        return None
    try:
        return read_capped_text(Path("/etc/resolv.conf"), SYSTEM_FILE_MAX)
    except HostFileProblem:
        return None


def _check_dns_leak(engine: DockerEngine) -> None:
    version = engine.server_version()
    if not engine_leaks_dns(version):
        return  # a fixed engine: no need to ask where it runs
    verdict = dns_leak_verdict(version, _engine_host_resolv_conf(engine))
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
    if not isinstance(engine, DockerEngine):  # other engines take their images from a registry
        _check_runtime(engine, plan.bottle.runtime)
        return
    # A value the docker client's env file cannot carry is refused before anything is made.
    env_file_text(env_values(plan, os.environ))
    build = agent_image_build(plan.image, settings=settings)
    # The Squid image is ours: built here like the agent's. Any other sidecar
    # image (Pipelock's, or one named by CLAUDE_BOTTLE_SIDECAR_IMAGE) is pulled.
    squid = (
        squid_image_build(plan.sidecar_image, settings=settings)
        if plan.sidecar_image == SQUID_IMAGE
        else None
    )
    agent_ok, sidecar_ok, _, _, _ = run_together(
        lambda: image_is_current(engine, build),
        lambda: image_is_current(engine, squid) if squid else engine.image_exists(plan.sidecar_image),
        lambda: _check_runtime(engine, plan.bottle.runtime),
        lambda: _check_dns_leak(engine),
        engine.storage_limit_problem,  # asked now, so the agent's start does not wait for it
    )
    if not agent_ok:
        ensure_image(engine, build)
    if not sidecar_ok and squid is not None:
        ensure_image(engine, squid)
    elif not sidecar_ok:
        info(f"pulling the egress sidecar image {plan.sidecar_image}")
        if not engine.pull(plan.sidecar_image):
            raise ClaudeBottleError(
                f"the egress sidecar image {plan.sidecar_image} is not available and could not be "
                "pulled; load it into the engine, or name another with CLAUDE_BOTTLE_SIDECAR_IMAGE"
            )
