"""The egress sidecar: the bottle's only way out, whichever proxy runs in it."""

from __future__ import annotations

import ipaddress
import threading
from contextlib import AbstractContextManager
from typing import Any

from claude_bottle.bottle.stage import StageFolder
from claude_bottle.engine import labels as L
from claude_bottle.engine.client import Engine
from claude_bottle.plan.launch_plan import LaunchPlan
from claude_bottle.proxies.events import EgressEvent

ALIAS = "egress-proxy"


def sidecar_address(subnet: ipaddress.IPv4Network) -> str:
    """The sidecar's fixed address on its bottle's internal network (pure): known
    before it starts, so a gVisor agent (which cannot use the engine's DNS) can
    be started at the same time. The last usable one: the engine hands out
    addresses from the bottom, so the agent, made meanwhile, never takes it."""
    return str(subnet.broadcast_address - 1)


def sidecar_run_args(
    plan: LaunchPlan, name: str, internal: str, address: str, labels: dict[str, str], config_mount: str | None
) -> tuple[str, ...]:
    """`docker run` arguments for the sidecar (pure). The configuration is not
    in them: it travels in the docker CLI's environment or a read-only mount."""
    proxy = plan.proxy
    delivery = proxy.delivery
    config_flags: tuple[str, ...] = ()
    if delivery.env_var:
        config_flags = ("--env", delivery.env_var)
    elif delivery.mount_path and config_mount:
        config_flags = ("--volume", f"{config_mount}:{delivery.mount_path}:ro")
    # The sidecar stays on the default runtime (it needs the real network
    # stack) but is otherwise as locked down as the agent.
    return (
        "run", "--detach", "--name", name,
        "--network", internal, "--ip", address, "--network-alias", ALIAS,
        *L.label_args(labels),
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--pids-limit", "512", "--memory", "1g",
        *proxy.container_args(),
        *config_flags,
        plan.sidecar_image,
        *proxy.command(delivery.mount_path),
    )  # fmt: skip


# How long the sidecar's removal waits for the agent's before reading its log anyway.
AGENT_GONE_TIMEOUT = 30.0


class EgressSidecar(AbstractContextManager["EgressSidecar"]):
    """Started on the bottle's internal network at a fixed address and under the
    alias the agent uses, then connected to the egress network (its way out).

    Squid logs a transaction when it ends (a tunnel when it closes). Its own
    graceful stop takes over a second, so instead the sidecar is removed only
    after the agent container is gone: the agent's processes are dead by then,
    the kernel has closed every connection they had, and the proxy has ended
    and logged each transaction (a test holds that a tunnel open at the end is
    in the summary)."""

    def __init__(
        self,
        engine: Engine,
        plan: LaunchPlan,
        labels: dict[str, str],
        internal: str,
        subnet: ipaddress.IPv4Network,
        egress: str,
        stage: StageFolder | None,
        agent_gone: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.proxy = plan.proxy
        self.labels = {**labels, L.ROLE: L.ROLE_SIDECAR, L.PROXY: plan.bottle.egress.proxy}
        self.internal = internal
        self.egress = egress
        self.stage = stage
        self.name = plan.sidecar_name
        self.audit_log = ""
        self.ip = sidecar_address(subnet)
        # gVisor containers cannot use the engine's DNS: they get the address.
        self.address = self.ip if plan.bottle.runtime == "runsc" else ALIAS
        self.agent_gone = agent_gone

    @property
    def url(self) -> str:
        return self.proxy.proxy_url(self.address)

    @property
    def events(self) -> list[EgressEvent]:
        return self.proxy.read_events(self.audit_log)

    def _start(self) -> None:
        config = self.proxy.render_config(self.plan.proxy_spec())
        env: dict[str, str] = {}
        mount = None
        if self.proxy.delivery.env_var:
            env[self.proxy.delivery.env_var] = config
        elif self.stage is not None:
            mount = str(self.stage.write("proxy.conf", config))
        args = sidecar_run_args(self.plan, self.name, self.internal, self.ip, self.labels, mount)
        self.engine.run(*args, env=env, what="the egress sidecar did not start")

    def __enter__(self) -> EgressSidecar:
        try:
            self._start()
            self.engine.run("network", "connect", self.egress, self.name,
                            what=f"cannot connect the sidecar to {self.egress}")  # fmt: skip
        except BaseException:
            # `docker run` may have created the container before failing to start it.
            self.engine.run("rm", "-f", self.name, check=False)
            raise
        return self

    def logs(self) -> str:
        result = self.engine.run("logs", self.name, check=False)
        return result.stdout + result.stderr

    def __exit__(self, *exc: Any) -> None:
        if self.agent_gone is not None:
            self.agent_gone.wait(AGENT_GONE_TIMEOUT)
        self.audit_log = self.engine.run("logs", self.name, check=False).stdout
        self.engine.run("rm", "-f", self.name, what=f"cannot remove the sidecar {self.name}")
