"""Applying a launch plan: the resources of a bottle, composed with one ExitStack
so that teardown runs in reverse order on every path, signals included."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Network
from typing import Any

from claude_bottle.bottle.agent import AgentContainer, env_values, held_values
from claude_bottle.bottle.floor import apply_floor
from claude_bottle.bottle.home import HomeFiles
from claude_bottle.bottle.keeper import SessionKeeper
from claude_bottle.bottle.network import BottleNetwork, ExistingNetwork, SharedEgressNetwork
from claude_bottle.bottle.readiness import wait_until_healthy
from claude_bottle.bottle.reaper import Reaper
from claude_bottle.bottle.sidecar import EgressSidecar, sidecar_address
from claude_bottle.console import info
from claude_bottle.engine.api import Capabilities, Engine
from claude_bottle.hostenv import watchdog_env
from claude_bottle.paths import HostPaths
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.proxies.events import events_jsonl, summarize
from claude_bottle.session.clock import PhaseClock
from claude_bottle.session.concurrency import enter_together, in_background
from claude_bottle.session.evidence import Evidence
from claude_bottle.session.preflight import preflight, refuse_unworkable_proxy
from claude_bottle.session.signals import SignalLatch, interruptible, shielded
from claude_bottle.settings import Settings
from claude_bottle.tarball import tar_bytes
from claude_bottle.tracking import labels as L
from claude_bottle.tracking.owner import current_owner
from claude_bottle.tracking.pool import Claim
from claude_bottle.workspace.outflow import Budget
from claude_bottle.workspace.session_folders import SessionFolder
from claude_bottle.workspace.source import WorkspaceSource, scan_workspace


@dataclass
class Session:
    plan: LaunchPlan
    engine: Engine
    agent: AgentContainer
    sidecar: EgressSidecar
    keeper: SessionKeeper
    clock: PhaseClock
    home: HomeFiles
    reaper: Reaper
    evidence: Evidence | None = None  # the session's record
    record_head: str = ""  # its last entry's hash, once the session ended
    subnet: IPv4Network | None = None  # the internal network's, where the engine has one
    pooled: bool = False  # claimed from a warm pool: checked whole at the claim, not probed

    @property
    def rest_follows(self) -> bool:
        """The sidecar and the network are being removed by the watchdog, after the CLI's end."""
        return self.reaper.finishing

    def ready(self) -> None:
        """Copy files in while waiting for the sidecar; then the session can start."""
        _prepare_inside(self, self.home)
        self.clock.mark("launch")


def session_labels(plan: LaunchPlan) -> dict[str, str]:
    labels = L.session_labels(
        plan.session_id, plan.agent.name, plan.bottle.name, current_owner(), plan.extra_labels
    )
    labels[L.RUNTIME] = plan.bottle.runtime
    labels[L.EGRESS] = ", ".join(plan.bottle.egress.all_hosts)[:400]
    if plan.cwd is not None:
        labels[L.WORKSPACE] = str(plan.cwd)
    return labels


def sidecar_addressing(caps: Capabilities, plan: LaunchPlan, subnet: IPv4Network) -> dict[str, Any]:
    """How the agent finds its sidecar (pure): by the alias where the engine
    resolves peers' names, else by address (gVisor containers cannot use the
    engine's DNS), pinned in advance where the engine can pin one."""
    return {
        "ip": sidecar_address(subnet) if caps.fixed_addresses else None,
        "by_address": plan.bottle.runtime == "runsc" or not caps.peer_names,
    }


def _enter(stack: ExitStack, *members: AbstractContextManager[Any]) -> None:
    """Enter resources (concurrently when several); a signal waits until they are on the stack."""
    enter_together(stack, *members)


def _prepare_inside(session: Session, home: HomeFiles) -> None:
    """Put the floor under the proxy and copy files in (in the background) while
    waiting for the sidecar; the session starts only when all are done.
    (The floor run beside the sidecar's join instead, which starts it earlier,
    measured slower: 1.77 s against 1.56 s at the median of 12 interleaved cold
    runs on a loaded 2-core host, since here it hides behind Squid's own start.)"""
    plan = session.plan
    entries = home.entries(plan, session.sidecar.address, plan.proxy.ssh_port(plan.proxy_spec()))
    sidecar = session.sidecar

    def floor() -> None:
        apply_floor(session.engine, plan, sidecar.name, sidecar.labels, session.subnet)

    copies: list[Callable[[], None]] = [] if session.pooled else [floor]
    evidence = session.evidence
    if evidence is not None:
        copies.append(lambda: evidence.containers(session.engine, session.agent.name, sidecar.name))
    if entries:
        copies.append(lambda: session.agent.copy_in(tar_bytes(entries), plan.container_home))
    if session.keeper.source is not None:
        copies.append(session.keeper.copy_in)
    with in_background(*copies) as finished:
        # A warm pool's bottle was checked whole when it was claimed (session/warm.py);
        # one whose sidecar was just handed credentials reloaded its proxy: probed.
        if not session.pooled or sidecar.credentials:
            wait_until_healthy(session.engine, plan, session.agent.name, sidecar)
        finished()


@contextmanager
def bottle(
    plan: LaunchPlan,
    engine: Engine,
    environ: Mapping[str, str] | None = None,
    *,
    keep_record: bool = True,
    settings: Settings | None = None,
    paths: HostPaths | None = None,
    claimed: Claim | None = None,
) -> Iterator[Session]:
    """A running bottle; everything it made is removed when the block ends. Its
    record is kept unless `keep_record` is false (doctor's throwaway bottles).
    `claimed`: a warm pool's bottle this session took (the plan is already its,
    session.warm.claim_ready): its objects are taken over, not made, and the
    agent's values and files are handed in now.
    `environ`: the host's environment the agent's variables are read from;
    `settings` and `paths`: the CLI's (made once in cli/main.py; without them,
    no CLAUDE_BOTTLE_* setting and the paths of `environ`)."""
    environ = os.environ if environ is None else environ
    settings = settings if settings is not None else Settings()
    paths = paths if paths is not None else HostPaths.from_environ(environ)
    clock = PhaseClock()
    # Read everything from the host first: a problem stops us before anything is made.
    home = HomeFiles.collect(plan, paths.home, environ)
    source = scan_workspace(plan.cwd) if plan.cwd is not None else None
    if claimed is None:
        preflight(engine, plan, settings)
    else:  # its keeper checked the images and the engine when it made it
        refuse_unworkable_proxy(plan)
        engine.refuse_environment(env_values(plan, environ))
    folder = open_session_folder(plan, source, paths, keep_record)
    evidence = Evidence(plan, folder, paths) if folder else None
    # Work and transcripts are kept where they were before every session had a record:
    # with a workspace, or with a person at the keyboard.
    kept = folder if source is not None or plan.interactive else None
    labels = session_labels(plan)
    stack = ExitStack()
    try:
        with interruptible():
            reaper = Reaper(engine, plan.session_id, watchdog_env(environ, settings))
            _enter(stack, reaper)
            # Only the shared egress network is ours alone: a network the user
            # named may be removed by them as soon as the CLI returns, so a
            # sidecar on it must be gone by then.
            successor = reaper if plan.egress_network is None else None
            # At an orderly end the agent is removed before the CLI returns; its sidecar
            # and network, which hold nothing of the agent's, are left to the watchdog
            # (issue 12: the exit no longer waits about 0.4 s for their removal).
            internal = BottleNetwork(
                engine, plan.network_name("internal"), L.for_role(labels, L.ROLE_INTERNAL_NET), plan.subnets,
                leave_to=successor, adopted=IPv4Network(claimed.bottle.subnet) if claimed else None,
            )  # fmt: skip
            egress: SharedEgressNetwork | ExistingNetwork = (
                ExistingNetwork(engine, plan.egress_network) if plan.egress_network
                else SharedEgressNetwork(engine)
            )  # fmt: skip
            _enter(stack, internal, egress)
            assert internal.subnet is not None
            addressing = sidecar_addressing(engine.capabilities, plan, internal.subnet)
            if claimed is not None and claimed.bottle.sidecar_ip:
                addressing["ip"] = claimed.bottle.sidecar_ip
            sidecar = EgressSidecar(
                engine, plan, labels, internal.name, egress.name, leave_to=successor,
                credentials=held_values(plan, environ),
                ssh_keys=tuple(key.private for key in home.ssh.held), adopted=claimed is not None,
                **addressing,
            )  # fmt: skip
            together: tuple[EgressSidecar, ...] = (sidecar,)
            if sidecar.by_address and sidecar.ip is None:
                # The engine gives the sidecar its address only once it runs, and
                # the agent reaches it by address: the agent is made after it.
                _enter(stack, sidecar)
                together = ()
            agent = AgentContainer(engine, plan, labels, internal.name, sidecar.address, environ,
                                   adopted=claimed is not None)  # fmt: skip
            sidecar.agent_gone = agent.gone  # left together: the sidecar waits for the agent
            _enter(stack, *together, agent)
            keeper = SessionKeeper(engine, plan, agent, source, kept, lambda: Budget.from_settings(settings))
            _enter(stack, keeper)
            # Yielded before it is ready, so that whatever ends the session
            # (even during the wait) can still report where the work went.
            yield Session(plan, engine, agent, sidecar, keeper, clock, home, reaper, evidence,
                          subnet=internal.subnet, pooled=claimed is not None)  # fmt: skip
            # Reached only when the session's block ended without an exception:
            # then, and only then, the sidecar and the network may be left to the
            # watchdog. After a failure or a signal the CLI removes everything.
            reaper.orderly = True
    finally:
        clock.mark("session")
        with shielded():
            stack.close()
            if claimed is not None:
                claimed.release()
        clock.mark("teardown")


def open_session_folder(
    plan: LaunchPlan, source: WorkspaceSource | None, paths: HostPaths, always: bool = True
) -> SessionFolder | None:
    """Every session keeps a folder for its record (unless not `always`: then only
    those with a workspace or a person at the keyboard)."""
    if not always and source is None and not plan.interactive:
        return None
    folder = SessionFolder.for_session(plan.session_id, paths).create()
    folder.update(
        session=plan.session_id, agent=plan.agent.name, bottle=plan.bottle.name,
        cwd=str(plan.cwd) if plan.cwd else None, container=plan.container,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        workspace=source.to_json() if source else None,
        workspace_path=plan.workspace,
        container_home=plan.container_home,
    )  # fmt: skip
    return folder


def record_end(session: Session, status: int | None = None) -> None:
    """Write what the session did into its folder and record. A signal meanwhile
    is noted and ignored, as during teardown: a record cut in the middle of a
    line would no longer hold."""
    with SignalLatch(announce="still writing the session's record"):
        _record_end(session, status)


def _record_end(session: Session, status: int | None) -> None:
    evidence = session.evidence
    folder = evidence.folder if evidence is not None else session.keeper.folder
    if folder is None:
        return
    events = session.sidecar.events
    (folder.path / "egress.jsonl").write_text(events_jsonl(events))
    folder.update(
        container=session.agent.name,
        ended=datetime.now(UTC).isoformat(timespec="seconds"),
        blocked=list(summarize(events).refused_hosts),
    )
    if evidence is not None:
        kept = session.keeper.folder
        transcripts = kept.path / "transcripts" if kept is not None else None
        session.record_head = evidence.finish(events, transcripts, session.keeper.result, status)


def run_session(
    plan: LaunchPlan,
    engine: Engine,
    *,
    tty: bool,
    settings: Settings,
    paths: HostPaths,
    on_end: Callable[[Session], None] | None = None,
    claimed: Claim | None = None,
) -> int:
    """Build the bottle (or take over `claimed`, a warm pool's), run the plan's
    command in it (attached to this terminal when `tty`), tear everything down;
    `on_end` is told about the session on every path."""
    session: Session | None = None
    status: int | None = None
    try:
        with bottle(plan, engine, settings=settings, paths=paths, claimed=claimed) as session:
            session.ready()
            if tty:
                info(
                    "attaching interactive claude session (Ctrl-D or 'exit' to leave; "
                    f"container {session.agent.name} will be removed)"
                )
            status = session.agent.attach(plan.exec_argv(), tty=tty)
            return status
    finally:
        # Also after Ctrl-C, SIGTERM, SIGHUP or `stop`: say where the work went.
        if session is not None:
            record_end(session, status)
            if on_end is not None:
                on_end(session)
