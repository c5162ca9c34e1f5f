"""The agent container: on the internal network only, hardened, with env values
handed over when the container is made (never in a command line or a file)."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from claude_bottle import agent_image
from claude_bottle.engine import labels as L
from claude_bottle.engine.api import ContainerSpec, Engine, Limits
from claude_bottle.errors import EngineError, NameConflict, UsageError
from claude_bottle.plan.launch_plan import LaunchPlan
from claude_bottle.plan.names import next_container_name

NO_PROXY = "localhost,127.0.0.1"


def proxy_env(proxy_url: str) -> dict[str, str]:
    url = proxy_url
    return {
        "HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url, "http_proxy": url,
        "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY,
    }  # fmt: skip


def env_values(plan: LaunchPlan, environ: Mapping[str, str]) -> dict[str, str]:
    """The agent's variables with their values, read at the last moment."""
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


def agent_spec(
    plan: LaunchPlan, name: str, network: str, labels: dict[str, str], proxy_host: str
) -> ContainerSpec:
    """The agent's container (pure). Env values are not in it: `secret_env`
    names them, and their values are handed over when it is made."""
    lim = plan.bottle.limits
    return ContainerSpec(
        name=name,
        image=plan.image,
        network=network,
        labels=labels,
        limits=Limits(pids=lim.pids, memory=lim.memory, cpus=lim.cpus, disk=lim.disk),
        command=("sleep", "infinity"),
        env={
            **{k: v for k, v in agent_image.DEFAULT_ENV.items() if k not in plan.env_names},
            **proxy_env(plan.proxy.proxy_url(proxy_host)),
        },
        secret_env=tuple(plan.env_names),
        runtime="runsc" if plan.bottle.runtime == "runsc" else None,
        init=True,
        workdir=plan.workspace,
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
    ) -> None:
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
        values = env_values(self.plan, self.environ)
        while True:
            spec = agent_spec(self.plan, self.name, self.network, self.labels, self.proxy_host)
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
            self.name, argv, tty=tty, user=agent_image.USER, workdir=self.plan.workspace
        )

    def exec(self, argv: tuple[str, ...]) -> str:
        """Run `argv` as the agent's user in its workspace; its output."""
        return self.engine.exec(self.name, argv, user=agent_image.USER, workdir=self.plan.workspace).stdout

    def __exit__(self, *exc: Any) -> None:
        try:
            self.engine.remove_containers(self.name)
        finally:
            self.gone.set()
