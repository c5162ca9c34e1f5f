"""The agent container: on the internal network only, hardened, with env values
handed over through the docker CLI's own environment (never argv or a file)."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from claude_bottle import agent_image
from claude_bottle.engine import labels as L
from claude_bottle.engine.client import Engine
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


def run_args(
    plan: LaunchPlan, name: str, network: str, labels: dict[str, str], proxy_host: str
) -> tuple[str, ...]:
    """`docker run` arguments for the agent (pure). Env values are not in them."""
    lim = plan.bottle.limits
    env_flags: list[str] = []
    for key, value in proxy_env(plan.proxy.proxy_url(proxy_host)).items():
        env_flags += ["--env", f"{key}={value}"]
    for key in plan.env_names:
        env_flags += ["--env", key]  # value from the CLI's environment
    return (
        "run", "--detach", "--name", name,
        "--network", network,
        *L.label_args(labels),
        "--init",
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--pids-limit", str(lim.pids),
        "--memory", lim.memory,
        "--cpus", f"{lim.cpus:g}",
        *(("--runtime", "runsc") if plan.bottle.runtime == "runsc" else ()),
        *env_flags,
        "--workdir", plan.workspace,
        plan.image,
        "sleep", "infinity",
    )  # fmt: skip


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
        self.labels = {**labels, L.ROLE: L.ROLE_AGENT}
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
            args = run_args(self.plan, self.name, self.network, self.labels, self.proxy_host)
            try:
                self.engine.run(*args, env=values, what=f"cannot start the agent container {self.name}")
            except NameConflict:
                if self.plan.container_pinned:
                    raise
                # Another session took the name since the plan was made.
                following = next_container_name(self.name, self.plan.slug)
                if following is None:
                    raise
                self.name = following
                continue
            except EngineError:
                self._remove_quietly()
                raise
            return self

    def copy_in(self, tar: bytes, dest: str) -> None:
        self.engine.run(
            "cp",
            "-",
            f"{self.name}:{dest}",
            stdin=tar,
            what=f"cannot copy files into {self.name}:{dest}",
        )

    def exec_args(self, argv: tuple[str, ...], *, tty: bool, stdin: bool = True) -> tuple[str, ...]:
        flags = ("-it",) if tty else (("-i",) if stdin else ())
        return (
            "exec",
            *flags,
            "--user",
            agent_image.USER,
            "--workdir",
            self.plan.workspace,
            self.name,
            *argv,
        )

    def _remove_quietly(self) -> None:
        # `docker run` can fail after creating the container (e.g. at start).
        self.engine.run("rm", "-f", self.name, check=False)

    def __exit__(self, *exc: Any) -> None:
        try:
            self.engine.run("rm", "-f", self.name, what=f"cannot remove the agent container {self.name}")
        finally:
            self.gone.set()
