"""Applying a launch plan: the resources of a bottle, composed with one ExitStack
so that teardown runs in reverse order on every path, signals included."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from claude_bottle import labels as L
from claude_bottle.agent import AgentContainer
from claude_bottle.audit import format_duration, read_audit_log, render_report
from claude_bottle.concurrency import enter_together, in_background
from claude_bottle.console import block, info
from claude_bottle.egress import PROXY_PORT
from claude_bottle.engine import Engine
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.home import HomeFiles
from claude_bottle.network import BottleNetwork, ExistingNetwork
from claude_bottle.owner import current_owner
from claude_bottle.plan import LaunchPlan
from claude_bottle.preflight import preflight
from claude_bottle.reaper import Reaper
from claude_bottle.sidecar import EgressSidecar
from claude_bottle.signals import interruptible, shielded
from claude_bottle.stage import StageFolder
from claude_bottle.tarball import tar_bytes
from claude_bottle.workspace import copy_folder_in


class SidecarUnhealthy(ClaudeBottleError):
    pass


@dataclass
class PhaseClock:
    """When each phase of a session ended (monotonic seconds), for --timings."""

    start: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, phase: str) -> None:
        self.marks[phase] = time.monotonic()

    def durations(self) -> list[tuple[str, float]]:
        out, last = [], self.start
        for phase, at in self.marks.items():
            out.append((phase, at - last))
            last = at
        return out


@dataclass
class Session:
    plan: LaunchPlan
    engine: Engine
    agent: AgentContainer
    sidecar: EgressSidecar
    clock: PhaseClock


def session_labels(plan: LaunchPlan) -> dict[str, str]:
    labels = L.session_labels(plan.session_id, plan.agent.name, plan.bottle.name, current_owner())
    labels[L.RUNTIME] = plan.bottle.runtime
    labels[L.EGRESS] = ", ".join(plan.bottle.egress.all_hosts)[:400]
    if plan.cwd is not None:
        labels[L.WORKSPACE] = str(plan.cwd)
    return labels


def _enter(stack: ExitStack, *members: AbstractContextManager[Any]) -> None:
    """Enter resources (concurrently when several); a signal waits until they are on the stack."""
    stack.enter_context(enter_together(*members))


def wait_until_healthy(session: Session) -> None:
    """Probe the sidecar's /health from inside the agent (the path its traffic takes).

    Probes are short engine calls made from this thread, so a Ctrl-C while
    waiting ends the wait at once.
    """
    url = f"http://{session.sidecar.address}:{PROXY_PORT}/health"
    probe = ("exec", session.agent.name, "curl", "-fsS", "-o", "/dev/null", "--max-time", "1",
             "--noproxy", "*", url)  # fmt: skip
    deadline = time.monotonic() + session.plan.sidecar_timeout
    while session.engine.run(*probe, check=False).returncode != 0:
        if time.monotonic() > deadline:
            log = session.sidecar.logs().strip() or "(empty)"
            tail = "\n".join(log.splitlines()[-20:])
            raise SidecarUnhealthy(
                f"the egress sidecar did not become healthy within "
                f"{session.plan.sidecar_timeout:g}s; its log ends:\n{tail}"
            )
        time.sleep(0.1)


def _prepare_inside(session: Session, home: HomeFiles) -> None:
    """Copy files in (in the background) while waiting for the sidecar."""
    plan = session.plan
    entries = home.entries(plan, session.sidecar.address, PROXY_PORT)
    copies: list[Callable[[], None]] = []
    if entries:
        copies.append(lambda: session.agent.copy_in(tar_bytes(entries), plan.container_home))
    if plan.cwd is not None:
        cwd = plan.cwd
        copies.append(
            lambda: copy_folder_in(session.engine, session.agent.name, cwd, plan.workspace)
        )
    with in_background(*copies) as finished:
        wait_until_healthy(session)
        finished()


@contextmanager
def bottle(
    plan: LaunchPlan, engine: Engine, environ: Mapping[str, str] | None = None
) -> Iterator[Session]:
    """A running bottle; everything it made is removed when the block ends."""
    clock = PhaseClock()
    home = HomeFiles.collect(plan)  # reads host files: fails before anything is made
    preflight(engine, plan)
    labels = session_labels(plan)
    stack = ExitStack()
    try:
        with interruptible():
            _enter(stack, Reaper(engine, plan.session_id))
            internal = BottleNetwork(
                engine,
                plan.network_name("internal"),
                {**labels, L.ROLE: L.ROLE_INTERNAL_NET},
                internal=True,
            )
            egress: BottleNetwork | ExistingNetwork = (
                ExistingNetwork(engine, plan.egress_network) if plan.egress_network
                else BottleNetwork(engine, plan.network_name("egress"),
                                   {**labels, L.ROLE: L.ROLE_EGRESS_NET}, internal=False)
            )  # fmt: skip
            _enter(stack, internal, egress)
            stage = StageFolder(plan.session_id)
            _enter(stack, stage)
            sidecar = EgressSidecar(engine, plan, labels, internal.name, egress.name, stage)
            if plan.bottle.runtime == "runsc":
                # The agent needs the sidecar's address before it is made.
                _enter(stack, sidecar)
                agent = AgentContainer(
                    engine, plan, labels, internal.name, sidecar.address, environ
                )
                _enter(stack, agent)
            else:
                agent = AgentContainer(
                    engine, plan, labels, internal.name, sidecar.address, environ
                )
                _enter(stack, sidecar, agent)
            session = Session(plan, engine, agent, sidecar, clock)
            _prepare_inside(session, home)
            clock.mark("launch")
            yield session
    finally:
        clock.mark("session")
        with shielded():
            stack.close()
        clock.mark("teardown")


def print_summary(session: Session, timings: bool = False) -> None:
    report = read_audit_log(session.sidecar.audit_log)
    elapsed = format_duration(session.clock.marks["session"] - session.clock.marks["launch"])
    lines = [
        f"session {session.plan.session_id} of {session.plan.agent.name} ended after {elapsed}; "
        "everything it made was removed"
    ]
    lines += [f"  {line}" for line in render_report(report)]
    if timings:
        lines.append(
            "  timings : " + ", ".join(f"{p} {d:.3f}s" for p, d in session.clock.durations())
        )
    info(lines[0])
    block("\n".join(lines[1:]))


def confirm(assume_yes: bool) -> bool:
    """Ask on the controlling terminal (not stdin, which a script may own)."""
    if assume_yes:
        return True
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise ClaudeBottleError(
            "no terminal to ask on; pass --yes to launch without confirmation"
        ) from None
    with os.fdopen(fd, "r+b", buffering=0) as tty:
        tty.write(b"claude-bottle: launch this agent? [y/N] ")
        reply = tty.readline().decode("utf-8", "replace").strip()
    return reply in ("y", "Y", "yes", "YES")


def launch_interactive(
    plan: LaunchPlan, engine: Engine, *, assume_yes: bool, timings: bool = False
) -> int:
    if not confirm(assume_yes):
        info("aborted by user")
        return 0
    with bottle(plan, engine) as session:
        info(
            "attaching interactive claude session (Ctrl-D or 'exit' to leave; "
            f"container {session.agent.name} will be removed)"
        )
        status = engine.attach(*session.agent.exec_args(plan.exec_argv(), tty=True))
    print_summary(session, timings)
    return status


def launch_command(
    plan: LaunchPlan, engine: Engine, *, summary: bool = True, timings: bool = False
) -> int:
    with bottle(plan, engine) as session:
        status = engine.attach(*session.agent.exec_args(plan.exec_argv(), tty=False))
    if summary or timings:
        print_summary(session, timings)
    return status
