"""A warm pool's keeper: a detached process that keeps N bottles of one
configuration ready (network, sidecar, idle agent container, floor in place,
sidecar healthy), made with no credential and none of the agent's values, and
refills the pool as sessions claim them (tracking/pool.py). It ends on SIGTERM
(`pool --stop`) or after CLAUDE_BOTTLE_POOL_IDLE seconds with no claim, and
then removes its ready bottles. Its objects carry a session's labels with the
keeper as their owner: if it dies, `cleanup` removes them as any dead session's."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from contextlib import ExitStack
from dataclasses import replace

from claude_bottle.bottle.agent import AgentContainer
from claude_bottle.bottle.floor import apply_floor
from claude_bottle.bottle.network import BottleNetwork, ExistingNetwork, SharedEgressNetwork
from claude_bottle.bottle.readiness import wait_until_healthy
from claude_bottle.bottle.sidecar import EgressSidecar
from claude_bottle.console import info
from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError, Interrupted
from claude_bottle.paths import HostPaths
from claude_bottle.plan.names import new_session_id, session_object_name
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.plan.pool import pool_key
from claude_bottle.session.concurrency import enter_together
from claude_bottle.session.launch import session_labels, sidecar_addressing
from claude_bottle.session.preflight import preflight
from claude_bottle.settings import Settings
from claude_bottle.tracking import labels as L
from claude_bottle.tracking.inventory import remove_session
from claude_bottle.tracking.owner import current_owner, owner_alive
from claude_bottle.tracking.pool import PoolFolder, ReadyBottle, write_keeper

POLL = 0.5  # seconds between looks at the pool when it is full
RETRY = 5.0  # seconds before trying again after a bottle failed to start
ABANDONED = 60.0  # seconds after which a claim naming no claimer is a dead claimer's


def make_ready(engine: Engine, plan: LaunchPlan, key: str) -> ReadyBottle:
    """One bottle of `plan`'s configuration, started and healthy, owned by this
    process; everything it made is removed again if any step fails."""
    session_id = new_session_id()
    own = replace(plan, session_id=session_id, container=session_object_name(plan.slug, session_id, "agent"))
    labels = {**session_labels(own), L.POOL: key}
    with ExitStack() as stack:
        internal = BottleNetwork(engine, own.network_name("internal"),
                                 L.for_role(labels, L.ROLE_INTERNAL_NET), own.subnets)  # fmt: skip
        egress: SharedEgressNetwork | ExistingNetwork = (
            ExistingNetwork(engine, own.egress_network) if own.egress_network else SharedEgressNetwork(engine)
        )
        enter_together(stack, internal, egress)
        assert internal.subnet is not None
        addressing = sidecar_addressing(engine.capabilities, own, internal.subnet)
        # No credential: plan/pool.py pools only a configuration whose sidecar holds none.
        sidecar = EgressSidecar(engine, own, labels, internal.name, egress.name, **addressing)
        together: tuple[EgressSidecar, ...] = (sidecar,)
        if sidecar.by_address and sidecar.ip is None:
            enter_together(stack, sidecar)
            together = ()
        # None of the agent's values: they are handed to the claimer's command.
        agent = AgentContainer(engine, own, labels, internal.name, sidecar.address, {}, pooled=True)
        sidecar.agent_gone = agent.gone
        enter_together(stack, *together, agent)
        apply_floor(engine, own, sidecar.name, sidecar.labels, internal.subnet)
        wait_until_healthy(engine, own, agent.name, sidecar)
        stack.pop_all()  # kept: the pool's now
    return ReadyBottle(session_id, agent.name, sidecar.name, internal.name, str(internal.subnet),
                       sidecar.ip or "", current_owner())  # fmt: skip


class Keeper:
    def __init__(self, engine: Engine, plan: LaunchPlan, paths: HostPaths, size: int, idle: float) -> None:
        self.engine = engine
        self.plan = plan
        self.key = pool_key(plan)
        self.folder = PoolFolder.of(paths.state, self.key)
        self.size = size
        self.idle = idle
        self.stopping = threading.Event()
        self.mine: set[str] = set()

    def run(self, settings: Settings) -> int:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        write_keeper(self.folder, current_owner(), self.plan.agent.name, self.size)
        try:
            preflight(self.engine, self.plan, settings)
            self._keep()
        finally:
            self.drain()
            self.folder.keeper_file.unlink(missing_ok=True)
        return 0

    def _keep(self) -> None:
        last_claim = time.monotonic()
        while not self.stopping.is_set():
            waiting = set(self.folder.waiting())
            if self.mine - waiting:  # claimed since the last look
                last_claim = time.monotonic()
            self.mine &= waiting
            if not self.folder.keeper_file.exists():  # its record removed: nobody can reach it
                return
            if time.monotonic() - last_claim > self.idle:
                info(f"no claim for {self.idle:g}s: the warm pool ends")
                return
            if len(waiting) < self.size:
                try:
                    ready = make_ready(self.engine, self.plan, self.key)
                except Interrupted:  # a signal while resources were entered (and then removed)
                    return
                except ClaudeBottleError as exc:
                    info(f"a pooled bottle did not start: {exc}")
                    self.stopping.wait(RETRY)
                    continue
                self.folder.publish(ready)
                self.mine.add(ready.session_id)
                continue
            self.remove_abandoned()
            self.stopping.wait(POLL)

    def remove_abandoned(self) -> None:
        """Claimed bottles whose claimer died before its session took them over."""
        for session_id, claimer, age in self.folder.claims():
            if (claimer is None and age > ABANDONED) or (claimer is not None and not owner_alive(claimer)):
                with contextlib.suppress(ClaudeBottleError, OSError):
                    remove_session(self.engine, session_id)
                self.folder.release(session_id)

    def drain(self) -> None:
        drain(self.engine, self.folder)
        self.remove_abandoned()


def drain(engine: Engine, folder: PoolFolder) -> None:
    """Remove every bottle still ready (taken first, so that no claimer gets one)."""
    me = current_owner()
    for session_id in folder.waiting():
        if folder.take(session_id, me) is None:
            continue
        with contextlib.suppress(ClaudeBottleError, OSError):
            remove_session(engine, session_id)
        folder.release(session_id)
