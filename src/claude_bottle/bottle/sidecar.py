"""The egress sidecar: the bottle's only way out, whichever proxy runs in it."""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from claude_bottle.bottle.network import Successor, leaves_it
from claude_bottle.engine.api import ContainerSpec, Engine, FileSpec, Limits
from claude_bottle.errors import ClaudeBottleError, EngineError, NameConflict
from claude_bottle.plan.images import image_user
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.proxies.events import EgressEvent
from claude_bottle.tracking import labels as L

ALIAS = "egress-proxy"
LIMITS = Limits(pids=512, memory="1g", cpus=1.0)  # Squid is one process: a core at most (CIS 5.12)


def sidecar_address(subnet: ipaddress.IPv4Network) -> str:
    """The sidecar's fixed address on its bottle's internal network (pure): known
    before it starts, so a gVisor agent (which cannot use the engine's DNS) can
    be started at the same time. The last usable one: the engine hands out
    addresses from the bottom, so the agent, made meanwhile, never takes it."""
    return str(subnet.broadcast_address - 1)


def sidecar_spec(
    plan: LaunchPlan,
    name: str,
    internal: str,
    address: str | None,
    labels: dict[str, str],
    config: str,
    secrets: tuple[str, ...] = (),
) -> ContainerSpec:
    """The sidecar's container (pure). Its configuration is either a variable
    whose value is handed over when the container is made (`secret_env`: never
    in a command line) or a file placed in the container before it starts;
    never a file on the CLI's host. The sidecar stays on the default runtime
    (it needs the real network stack) but is otherwise as locked down as the agent."""
    proxy = plan.proxy
    shape, delivery = proxy.shape(), proxy.delivery
    return ContainerSpec(
        name=name,
        image=plan.sidecar_image,
        network=internal,
        labels=labels,
        limits=LIMITS,
        command=proxy.command(),
        address=address,
        aliases=(ALIAS,),
        ports=proxy.ports(plan.proxy_spec()),
        env=dict(shape.env),
        secret_env=((delivery.env_var,) if delivery.env_var else ()) + secrets,
        files=(FileSpec(delivery.file_path, config.encode(), 0o444),) if delivery.file_path else (),
        read_only=shape.read_only,
        tmpfs=shape.tmpfs,
        reaches=plan.bottle.egress.internal,
        run_as=image_user(plan.sidecar_image),
    )


# How long the sidecar's removal waits for the agent's before reading its log anyway.
AGENT_GONE_TIMEOUT = 30.0


class EgressSidecar(AbstractContextManager["EgressSidecar"]):
    """Started on the bottle's internal network, at a fixed address where the
    engine pins one, under the alias the agent uses, then connected to the egress
    network (its way out).

    Squid logs a transaction when it ends (a tunnel when it closes). Its own
    graceful stop takes over a second, so instead the sidecar is removed only
    after the agent container is gone: the agent's processes are dead by then,
    the kernel has closed every connection they had, and the proxy has ended
    and logged each transaction (a test holds that a tunnel open at the end is
    in the summary). Once the log is read, its removal is left to `leave_to`
    when it will (the watchdog, after the CLI's end)."""

    def __init__(
        self,
        engine: Engine,
        plan: LaunchPlan,
        labels: dict[str, str],
        internal: str,
        egress: str,
        *,
        ip: str | None,
        by_address: bool,
        agent_gone: threading.Event | None = None,
        leave_to: Successor | None = None,
        credentials: Mapping[int, str] | None = None,
        ssh_keys: Sequence[bytes] = (),
        adopted: bool = False,
    ) -> None:
        """`adopted`: it runs already (a warm pool's, made with no credential), and
        is taken over: its address is `ip` where it has one."""
        self.adopted = adopted
        self.engine = engine
        self.plan = plan
        self.proxy = plan.proxy
        self.labels = {**L.for_role(labels, L.ROLE_SIDECAR), L.PROXY: plan.bottle.egress.proxy}
        self.internal = internal
        self.egress = egress
        self.name = plan.sidecar_name
        self.audit_log = ""
        # Pinned before it starts, or (where the engine cannot pin one) learnt once it runs.
        self.ip = ip
        # The agent reaches it by address where it cannot by name (gVisor, some engines).
        self.by_address = by_address
        self.agent_gone = agent_gone
        self.leave_to = leave_to
        # The header values it adds for injected hosts (never shown or logged).
        self.credentials = dict(credentials or {})
        self.ssh_keys = tuple(ssh_keys)  # the private keys its ssh-agent holds

    @property
    def address(self) -> str:
        """The host the agent's proxy settings name."""
        if not self.by_address:
            return ALIAS
        assert self.ip is not None, "the sidecar's address is known once it runs"
        return self.ip

    @property
    def url(self) -> str:
        return self.proxy.proxy_url(self.address)

    @property
    def events(self) -> list[EgressEvent]:
        return self.proxy.read_events(self.audit_log)

    def _start(self) -> None:
        proxy_spec = self.plan.proxy_spec()
        config = self.proxy.render_config(proxy_spec)
        delivery = self.proxy.delivery
        # The credentials it adds (values read now), as secrets of its own.
        secrets = self.proxy.secret_env(proxy_spec, self.credentials, self.ssh_keys)
        spec = sidecar_spec(self.plan, self.name, self.internal, self.ip, self.labels, config, tuple(secrets))
        values = {**secrets, **({delivery.env_var: config} if delivery.env_var else {})}
        try:
            self.engine.run_container(spec, values or None)
        except EngineError as exc:
            raise exc.saying("the egress sidecar did not start") from None

    def __enter__(self) -> EgressSidecar:
        if self.adopted:  # a warm pool's: its credentials are handed in now
            assert not self.ssh_keys, "a pooled sidecar never holds ssh keys"
            if self.credentials:
                self._hand_in()
            return self
        try:
            self._start()
            self.engine.connect(self.egress, self.name)
            if self.ip is None:
                self.ip = self.engine.address_of(self.name, self.internal)
        except NameConflict:
            raise  # the name is another's: nothing of ours to remove
        except BaseException:
            with contextlib.suppress(Exception):
                self.engine.remove_containers(self.name)
            raise
        return self

    def _hand_in(self) -> None:
        """Give a running sidecar (made with none) the header values it adds, then
        make its proxy read them; never in a command line (the exec's stdin)."""
        spec = self.plan.proxy_spec()
        hand_in, reload = self.proxy.hand_in(spec, self.credentials), self.proxy.live_reload()
        assert hand_in is not None, "plan/pool.py pools no other proxy"
        assert reload is not None, "plan/pool.py pools no other proxy"
        argv, secret = hand_in
        wrote = self.engine.exec(self.name, argv, stdin=secret)
        took = self.engine.exec(self.name, reload.script, stdin=self.proxy.render_config(spec).encode())
        lines = took.stdout.strip().splitlines()
        if wrote.returncode != 0 or took.returncode != 0 or not lines or lines[-1] != reload.done:
            # Its output is not shown: a proxy's parse errors may quote a credential's line.
            status = took.returncode or wrote.returncode
            raise ClaudeBottleError(f"the pooled egress sidecar did not take its credentials (exit {status})")

    def logs(self) -> str:
        try:
            return self.engine.logs(self.name)
        except EngineError:
            return ""

    def __exit__(self, *exc: Any) -> None:
        if self.agent_gone is not None:
            self.agent_gone.wait(AGENT_GONE_TIMEOUT)
        self.audit_log = self.logs()
        if not leaves_it(self.leave_to):
            self.engine.remove_containers(self.name)
