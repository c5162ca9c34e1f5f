"""The Pipelock egress sidecar: the bottle's only way out."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from claude_bottle import labels as L
from claude_bottle.egress import PROXY_PORT, render_pipelock_config
from claude_bottle.engine import Engine
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.plan import LaunchPlan
from claude_bottle.stage import StageFolder

CONFIG_PATH = "/etc/claude-bottle/pipelock.yaml"
ALIAS = "egress-proxy"


class EgressSidecar(AbstractContextManager["EgressSidecar"]):
    """Started on the egress network (its way out) with its config bind-mounted
    read-only, then connected to the internal network under the alias the agent
    uses. Its audit log is kept when it is removed, for the summary."""

    def __init__(
        self,
        engine: Engine,
        plan: LaunchPlan,
        labels: dict[str, str],
        internal: str,
        egress: str,
        stage: StageFolder,
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.labels = {**labels, L.ROLE: L.ROLE_SIDECAR}
        self.internal = internal
        self.egress = egress
        self.stage = stage
        self.name = plan.sidecar_name
        self.audit_log = ""
        self.address = ALIAS

    def run_args(self, config: Path) -> tuple[str, ...]:
        # The sidecar stays on the default runtime (it needs the real network
        # stack) but is otherwise as locked down as the agent.
        return (
            "run", "--detach", "--name", self.name,
            "--network", self.egress,
            *L.label_args(self.labels),
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--pids-limit", "512", "--memory", "1g",
            "--env", "SENTRY_DSN=",
            "--volume", f"{config}:{CONFIG_PATH}:ro",
            self.plan.sidecar_image,
            "run", "--config", CONFIG_PATH, "--listen", f"0.0.0.0:{PROXY_PORT}",
        )  # fmt: skip

    def __enter__(self) -> EgressSidecar:
        config = self.stage.write("pipelock.yaml", render_pipelock_config(self.plan.bottle.egress))
        try:
            self.engine.run(*self.run_args(config), what="the egress sidecar did not start")
            self.engine.run(
                "network", "connect", "--alias", ALIAS, self.internal, self.name,
                what=f"cannot connect the sidecar to {self.internal}",
            )  # fmt: skip
            if self.plan.bottle.runtime == "runsc":
                # gVisor containers cannot reach the engine's embedded DNS: use the address.
                self.address = self.internal_ip()
        except BaseException:
            # `docker run` may have created the container before failing to start it.
            self.engine.run("rm", "-f", self.name, check=False)
            raise
        return self

    def internal_ip(self) -> str:
        fmt = f'{{{{(index .NetworkSettings.Networks "{self.internal}").IPAddress}}}}'
        ip = self.engine.run("inspect", "--format", fmt, self.name).stdout.strip()
        if not ip:
            raise ClaudeBottleError(f"the sidecar has no address on {self.internal}")
        return ip

    def logs(self) -> str:
        result = self.engine.run("logs", self.name, check=False)
        return result.stdout + result.stderr

    def __exit__(self, *exc: Any) -> None:
        self.audit_log = self.engine.run("logs", self.name, check=False).stdout
        self.engine.run("rm", "-f", self.name, what=f"cannot remove the sidecar {self.name}")
