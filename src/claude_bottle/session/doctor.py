"""`claude-bottle doctor`: checks the engine, its runtimes and the images, then
proves the egress wall on this engine in seconds, on Docker or Kubernetes.

The proof is a throwaway bottle whose only way out is a private lab: an origin
container (a pod on Kubernetes) on a network made for the check. On Docker it
answers as `allowed.doctor.invalid` and `refused.doctor.invalid`; on
Kubernetes, where pods have no names their peers resolve, the bottle names the
origin's address. From inside the bottle the allowed host must answer through
the proxy, the refused name must be refused by the proxy, and the origin's
address must be unreachable directly. Nothing leaves the machine (or the
cluster), and everything is removed afterwards (by context managers, and
labelled so `cleanup` finds it after a kill -9)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from claude_bottle.bottle.image import image_is_current
from claude_bottle.engine.api import ContainerSpec, Engine, EngineTarget, Limits, NetworkSpec
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.paths import HostPaths
from claude_bottle.plan.images import agent_image_build, image_user, squid_image_build
from claude_bottle.plan.names import new_session_id
from claude_bottle.plan.plan import DEFAULT_IMAGE, LaunchPlan, Options, build_plan, planned_images
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from claude_bottle.settings import Settings
from claude_bottle.tracking import labels as L
from claude_bottle.tracking.owner import current_owner

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
    host: str  # what the bottle allows: a name (Docker) or the origin's address (Kubernetes)


@contextmanager
def lab_origin(engine: Engine, session: str, image: str, settings: Settings) -> Iterator[Origin]:
    """A network with one origin server on it, removed on exit. Where peers
    resolve names (Docker), the network is internal and the origin answers by
    name; elsewhere (Kubernetes) the bottle names the origin's address, and the
    network's policies open nothing to it but what the bottle's sidecar names."""
    owner = current_owner()
    labels = L.for_role(L.session_labels(session, "doctor", "doctor", owner, L.user_labels(settings)),
                        L.ROLE_DOCTOR_ORIGIN)  # fmt: skip
    by_name = engine.capabilities.peer_names
    network = f"claude-bottle-doctor-{session}"
    engine.create_network(NetworkSpec(network, labels, internal=by_name))
    name = f"{network}-origin"
    try:
        engine.run_container(ContainerSpec(
            name=name, image=image, network=network, labels=labels, limits=ORIGIN_LIMITS,
            command=("node", "-e", ORIGIN_JS), aliases=(ALLOWED, REFUSED) if by_name else (), ports=(80,),
            low_ports=True,  # port 80 as the image's own user, root on no engine
            run_as=image_user(image),
        ))  # fmt: skip
        address = engine.address_of(name, network)
        yield Origin(network, address, ALLOWED if by_name else address)
    finally:
        with contextlib.suppress(ClaudeBottleError):
            engine.remove_containers(name)
        with contextlib.suppress(ClaudeBottleError):
            engine.remove_network(network)


def doctor_images(settings: Settings) -> tuple[str, str]:
    """The agent and sidecar images a doctor's bottle runs, as a launch's would."""
    image, sidecar, _ = planned_images(settings, "squid")
    return image, sidecar


def doctor_plan(
    origin: Origin, runtime: str, settings: Settings, paths: HostPaths, target: EngineTarget | None = None
) -> LaunchPlan:
    manifest = {
        "bottles": {"doctor": {"runtime": runtime, "egress": {"allow": [], "internal": [origin.host],
                                                              "network": origin.network}}},
        "agents": {"doctor": {"bottle": "doctor"}},
    }  # fmt: skip
    parsed = parse_manifest(manifest, "<doctor>", Path.cwd(), home=paths.home)
    script = (
        f"curl -s -m 10 http://{origin.host}/; echo; "
        f"curl -s -m 10 -o /dev/null -w 'refused=%{{http_code}}\\n' http://{REFUSED}/; "
        f"curl -s -m 5 --noproxy '*' -o /dev/null http://{origin.address}/; echo direct=$?"
    )
    options = Options("doctor", command=("sh", "-c", script), interactive=False)
    image, sidecar = doctor_images(settings)
    # Only these settings apply to the doctor's bottle, and no variable of the host's.
    own = Settings(
        image=image, sidecar_image=sidecar, labels=settings.labels, engine=settings.engine or "docker"
    )
    return build_plan(
        parsed, options, {}, new_session_id(), frozenset(), target=target, settings=own, paths=paths
    )


def wall_checks(output: str, host: str = ALLOWED) -> list[Check]:
    """Read the probe's output (pure)."""
    lines = output.splitlines()
    answered = f"doctor-origin {host}" in lines
    return [
        Check("allowed host reached through the proxy", answered,
              "the origin answered" if answered else "no answer from the origin"),
        Check("refused host refused by the proxy", "refused=403" in lines,
              next((x for x in lines if x.startswith("refused=")), "no status")),
        Check("origin's address unreachable directly", any(x.startswith("direct=") and x != "direct=0"
                                                             for x in lines),
              next((x for x in lines if x.startswith("direct=")), "no status")),
    ]  # fmt: skip


def engine_checks(engine: Engine, settings: Settings) -> list[Check]:
    sidecar_image = settings.sidecar_image
    checks = [Check(c.name, c.ok, c.detail) for c in engine.health()]
    checks.append(_runsc_check(engine))
    store = engine.images()
    if store is None:  # an engine that takes its images from a registry
        return checks
    builds = [agent_image_build(DEFAULT_IMAGE, settings=settings)]
    if sidecar_image:  # named by CLAUDE_BOTTLE_SIDECAR_IMAGE: not ours to build
        present = store.image_exists(sidecar_image)
        checks.append(Check(f"sidecar image {sidecar_image}", present,
                            "present" if present else "missing: load it into the engine"))  # fmt: skip
    else:
        builds.append(squid_image_build(SQUID_IMAGE, settings=settings))
    for build in builds:
        current = image_is_current(store, build)
        detail = "up to date" if current else "missing or out of date: run 'claude-bottle build'"
        checks.append(Check(f"image {build.tag}", current, detail))
    return checks


def _runsc_check(engine: Engine) -> Check:
    registered = "runsc" in engine.runtimes()
    return Check("gVisor (runsc)", True, "registered" if registered
                 else "not registered: bottles with runtime runsc cannot start")  # fmt: skip


def new_doctor_session() -> str:
    return f"doctor{secrets.token_hex(3)}"


@dataclass
class Report:
    """What doctor found, for people and for `--json` (a CI job gates on `ok`)."""

    engine: EngineTarget
    runtime: str
    checks: list[Check] = field(default_factory=list)
    wall: list[Check] = field(default_factory=list)
    tried: bool = False  # the wall was tried (every engine check passed)

    @property
    def ok(self) -> bool:
        return self.tried and all(c.ok for c in self.checks + self.wall)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "engine": self.engine.to_json(),
            "runtime": self.runtime,
            "wall": "held" if self.ok else ("did not hold" if self.tried else "not tried"),
            "checks": [asdict(c) | {"part": "engine"} for c in self.checks]
            + [asdict(c) | {"part": "wall"} for c in self.wall],
        }
