"""The agent container: on the internal network only, hardened, with env values
handed over when the container is made (never in a command line or a file)."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from claude_bottle import agent_image
from claude_bottle.bottle.ssh import AGENT_SOCKET
from claude_bottle.engine.api import ContainerSpec, Engine, Limits
from claude_bottle.errors import EngineError, NameConflict, UsageError
from claude_bottle.plan.images import image_user
from claude_bottle.plan.names import next_container_name
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.proxies.credentials import SSH_AGENT_PORT, UnusableCredential, header_value, placeholder
from claude_bottle.tracking import labels as L

NO_PROXY = "localhost,127.0.0.1"


def proxy_env(proxy_url: str) -> dict[str, str]:
    url = proxy_url
    return {
        "HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url, "http_proxy": url,
        "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY,
    }  # fmt: skip


def env_values(plan: LaunchPlan, environ: Mapping[str, str]) -> dict[str, str]:
    """The agent's variables with their values, read at the last moment: those
    the agent holds (not those its sidecar holds for it: `held_values`)."""
    held = {*plan.credentials.placeholders, *plan.credentials.left_out}
    replaced = _REPLACED if plan.credentials.model is not None else ()
    return {k: v for k, v in _all_values(plan, environ).items() if k not in held and k not in replaced}


def held_values(plan: LaunchPlan, environ: Mapping[str, str]) -> dict[int, str]:
    """The header each injected host's port adds (its value read now), by port."""
    values = _all_values(plan, environ)
    out: dict[int, str] = {}
    for injection in plan.credentials.injections:
        try:
            out[injection.port] = header_value(injection.style, values[injection.variable])
        except UnusableCredential as exc:
            raise UsageError(f"{injection.variable}: the egress sidecar cannot add it for "
                             f"{injection.host}: {exc}") from None  # fmt: skip
    return out


# Set by claude-bottle itself where the sidecar holds the model credential.
_REPLACED = ("ANTHROPIC_BASE_URL",)


def _all_values(plan: LaunchPlan, environ: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for binding in plan.env:
        if binding.literal is not None:
            values[binding.name] = binding.literal
            continue
        assert binding.host_var is not None
        if binding.host_var not in environ:
            raise UsageError(f"${binding.host_var} (for {binding.name}) is no longer set")
        values[binding.name] = environ[binding.host_var]
    return values


def held_env(plan: LaunchPlan, proxy_host: str) -> dict[str, str]:
    """What the agent holds where its sidecar holds a credential (pure): a
    placeholder of the same shape, and the model endpoint on its sidecar."""
    credentials = plan.credentials
    env = {name: placeholder(name) for name in credentials.placeholders}
    if credentials.model is not None:
        env["ANTHROPIC_BASE_URL"] = credentials.model.url(proxy_host)
    if credentials.held_keys:
        env["SSH_AUTH_SOCK"] = f"{plan.container_home}/{AGENT_SOCKET}"
    return env


def agent_command(plan: LaunchPlan, proxy_host: str) -> tuple[str, ...]:
    """The container's main process: it idles (the session runs in an exec),
    with, where the sidecar holds ssh keys, a relay from the agent socket to
    the sidecar's ssh-agent, in the Node.js every agent image has. The relay
    is the agent's own: stopping it only stops its ssh."""
    if not plan.credentials.held_keys:
        return ("sleep", "infinity")
    relay = (
        "process.umask(0o077);const net=require('net'),path=process.argv[3];"
        "require('fs').mkdirSync(require('path').dirname(path),{recursive:true});"
        "net.createServer(c=>{const s=net.connect(+process.argv[2],process.argv[1]);"
        "c.pipe(s).pipe(c);c.on('error',()=>s.destroy());s.on('error',()=>c.destroy())})"
        ".listen(path)"
    )
    socket = f"{plan.container_home}/{AGENT_SOCKET}"
    return ("sh", "-c", 'node -e "$0" "$1" "$2" "$3" & exec sleep infinity',
            relay, proxy_host, str(SSH_AGENT_PORT), socket)  # fmt: skip


def agent_spec(
    plan: LaunchPlan, name: str, network: str, labels: dict[str, str], proxy_host: str
) -> ContainerSpec:
    """The agent's container (pure). Env values are not in it: `secret_env`
    names them, and their values are handed over when it is made."""
    lim = plan.bottle.limits
    held = held_env(plan, proxy_host)
    proxies = proxy_env(plan.proxy.proxy_url(proxy_host))
    if plan.credentials.injections or plan.credentials.held_keys:  # reached directly
        proxies["NO_PROXY"] = proxies["no_proxy"] = f"{NO_PROXY},{proxy_host}"
    return ContainerSpec(
        name=name,
        image=plan.image,
        network=network,
        labels=labels,
        limits=Limits(pids=lim.pids, memory=lim.memory, cpus=lim.cpus, disk=lim.disk),
        command=agent_command(plan, proxy_host),
        env={
            **{k: v for k, v in agent_image.DEFAULT_ENV.items() if k not in plan.env_names},
            **proxies,
            **held,
        },
        secret_env=tuple(n for n in plan.env_names if n not in held and n not in plan.credentials.left_out),
        runtime="runsc" if plan.bottle.runtime == "runsc" else None,
        init=True,
        workdir=plan.workspace,
        run_as=image_user(plan.image),
    )


class AgentContainer(AbstractContextManager["AgentContainer"]):
    def __init__(
        self,
        engine: Engine,
        plan: LaunchPlan,
        labels: dict[str, str],
        network: str,
        proxy_host: str,
        environ: Mapping[str, str] | None = None,
        adopted: bool = False,
        pooled: bool = False,
    ) -> None:
        """`pooled`: made for a warm pool, with none of the agent's values;
        `adopted`: such a container, running already, taken over by a session:
        the values are handed to the session's command instead."""
        self.adopted = adopted
        self.pooled = pooled
        self.command_env: dict[str, str] = {}
        self.engine = engine
        self.plan = plan
        self.labels = L.for_role(labels, L.ROLE_AGENT)
        self.network = network
        self.proxy_host = proxy_host
        self.environ = os.environ if environ is None else environ
        self.name = plan.container
        # Set once the container is gone (or was never made): the sidecar reads
        # its proxy's log only then, when every connection of the agent has ended.
        self.gone = threading.Event()

    def __enter__(self) -> AgentContainer:
        try:
            return self._start()
        except BaseException:
            self.gone.set()
            raise

    def _start(self) -> AgentContainer:
        values = {} if self.pooled else env_values(self.plan, self.environ)
        if self.adopted:
            self.command_env = values
            return self
        while True:
            spec = agent_spec(self.plan, self.name, self.network, self.labels, self.proxy_host)
            if self.pooled:
                spec = replace(spec, secret_env=())
            try:
                self.engine.run_container(spec, values)
            except EngineError as exc:
                # Another session may have taken the name since the plan was made.
                following = next_container_name(self.name, self.plan.slug)
                if isinstance(exc, NameConflict) and not self.plan.container_pinned and following:
                    self.name = following
                    continue
                raise exc.saying(f"cannot start the agent container {self.name}") from None
            return self

    def copy_in(self, tar: bytes, dest: str) -> None:
        self.engine.copy_in(self.name, dest, tar)

    def attach(self, argv: tuple[str, ...], *, tty: bool) -> int:
        """Run `argv` as the agent's user in its workspace, wired to this terminal."""
        return self.engine.attach(
            self.name, argv, tty=tty, user=agent_image.USER, workdir=self.plan.workspace,
            env=self.command_env or None,
        )  # fmt: skip

    def exec(self, argv: tuple[str, ...]) -> str:
        """Run `argv` as the agent's user in its workspace; its output."""
        return self.engine.exec(self.name, argv, user=agent_image.USER, workdir=self.plan.workspace).stdout

    def __exit__(self, *exc: Any) -> None:
        try:
            self.engine.remove_containers(self.name)
        finally:
            self.gone.set()
