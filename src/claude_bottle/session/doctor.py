"""`claude-bottle doctor`: checks the engine, its runtimes and the images, then
proves the egress wall on this engine in seconds.

The proof is a throwaway bottle whose only way out is a private lab: an origin
container on an internal network made for the check, answering as
`allowed.doctor.invalid` and `refused.doctor.invalid`. From inside the bottle
the allowed name must answer through the proxy, the refused one must be
refused by the proxy, and the origin's address must be unreachable directly.
Nothing leaves the machine, and everything is removed afterwards (by context
managers, and labelled so `cleanup` finds it after a kill -9)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from claude_bottle.bottle.image import image_is_current
from claude_bottle.engine import labels as L
from claude_bottle.engine.api import ContainerSpec, Engine, Limits, NetworkSpec
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.engine.owner import current_owner
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.plan.images import agent_image_build, squid_image_build
from claude_bottle.plan.launch_plan import DEFAULT_IMAGE, LaunchPlan, Options, build_plan
from claude_bottle.plan.names import new_session_id
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from claude_bottle.session.dnsleak import dns_leak_verdict
from claude_bottle.settings import Settings

ALLOWED = "allowed.doctor.invalid"
REFUSED = "refused.doctor.invalid"
ORIGIN_JS = (
    "require('http').createServer((q, r) => r.end('doctor-origin ' + q.headers.host)).listen(80);"
    "console.log('ready')"
)
ORIGIN_LIMITS = Limits(pids=128, memory="256m")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Origin:
    network: str
    address: str


@contextmanager
def lab_origin(engine: Engine, session: str, image: str) -> Iterator[Origin]:
    """An internal network with one origin server on it, removed on exit."""
    owner = current_owner()
    labels = L.for_role(L.session_labels(session, "doctor", "doctor", owner, L.user_labels(os.environ)),
                        L.ROLE_DOCTOR_ORIGIN)  # fmt: skip
    network = f"claude-bottle-doctor-{session}"
    engine.create_network(NetworkSpec(network, labels, internal=True))
    name = f"{network}-origin"
    try:
        engine.run_container(ContainerSpec(
            name=name, image=image, network=network, labels=labels, limits=ORIGIN_LIMITS,
            command=("node", "-e", ORIGIN_JS), aliases=(ALLOWED, REFUSED), ports=(80,),
            user="0", cap_add=("NET_BIND_SERVICE",),
        ))  # fmt: skip
        yield Origin(network, engine.address_of(name, network))
    finally:
        with contextlib.suppress(ClaudeBottleError):
            engine.remove_containers(name)
        with contextlib.suppress(ClaudeBottleError):
            engine.remove_network(network)


def doctor_plan(origin: Origin, runtime: str, image: str, sidecar_image: str | None) -> LaunchPlan:
    manifest = {
        "bottles": {"doctor": {"runtime": runtime, "egress": {"allow": [], "internal": [ALLOWED],
                                                              "network": origin.network}}},
        "agents": {"doctor": {"bottle": "doctor"}},
    }  # fmt: skip
    parsed = parse_manifest(manifest, "<doctor>", Path.cwd())
    script = (
        f"curl -s -m 10 {ALLOWED}/; echo; "
        f"curl -s -m 10 -o /dev/null -w 'refused=%{{http_code}}\\n' http://{REFUSED}/; "
        f"curl -s -m 5 --noproxy '*' -o /dev/null http://{origin.address}/; echo direct=$?"
    )
    options = Options("doctor", command=("sh", "-c", script), interactive=False)
    environ = {"CLAUDE_BOTTLE_IMAGE": image, "CLAUDE_BOTTLE_SIDECAR_IMAGE": sidecar_image or "",
               "CLAUDE_BOTTLE_LABELS": Settings.from_environ().labels}  # fmt: skip
    return build_plan(parsed, options, environ, new_session_id(), frozenset())


def wall_checks(output: str) -> list[Check]:
    """Read the probe's output (pure)."""
    lines = output.splitlines()
    return [
        Check("allowed host reached through the proxy", f"doctor-origin {ALLOWED}" in lines,
              "the origin answered" if f"doctor-origin {ALLOWED}" in lines else "no answer from the origin"),
        Check("refused host refused by the proxy", "refused=403" in lines,
              next((x for x in lines if x.startswith("refused=")), "no status")),
        Check("origin's address unreachable directly", any(x.startswith("direct=") and x != "direct=0"
                                                             for x in lines),
              next((x for x in lines if x.startswith("direct=")), "no status")),
    ]  # fmt: skip


def engine_checks(engine: Engine, sidecar_image: str | None) -> list[Check]:
    if not isinstance(engine, DockerEngine):
        return [Check("engine", True, engine.capabilities.name), _runsc_check(engine)]
    version = engine.server_version()
    checks = [Check("engine", True, f"Docker {version}")]
    verdict = dns_leak_verdict(version, None)
    if verdict is not None:
        checks.append(Check("engine DNS (CVE-2024-29018)", verdict[0] != "refuse", verdict[1]))
    checks.append(_runsc_check(engine))
    builds = [agent_image_build(DEFAULT_IMAGE)]
    if sidecar_image:  # named by CLAUDE_BOTTLE_SIDECAR_IMAGE: not ours to build
        present = engine.image_exists(sidecar_image)
        checks.append(Check(f"sidecar image {sidecar_image}", present,
                            "present" if present else "missing: load it into the engine"))  # fmt: skip
    else:
        builds.append(squid_image_build(SQUID_IMAGE))
    for build in builds:
        current = image_is_current(engine, build)
        detail = "up to date" if current else "missing or out of date: run 'claude-bottle build'"
        checks.append(Check(f"image {build.tag}", current, detail))
    return checks


def _runsc_check(engine: Engine) -> Check:
    registered = "runsc" in engine.runtimes()
    return Check("gVisor (runsc)", True, "registered" if registered
                 else "not registered: bottles with runtime runsc cannot start")  # fmt: skip


def new_doctor_session() -> str:
    return f"doctor{secrets.token_hex(3)}"
