"""The Pipelock egress sidecar: the bottle's only way out."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from claude_bottle import labels as L
from claude_bottle.egress import PROXY_PORT, render_pipelock_config
from claude_bottle.engine import Engine
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.plan import LaunchPlan
from claude_bottle.tarball import Entry, tar_bytes

CONFIG_DIR = "/etc/claude-bottle"
CONFIG_PATH = f"{CONFIG_DIR}/pipelock.yaml"
ALIAS = "egress-proxy"


class EgressSidecar(AbstractContextManager["EgressSidecar"]):
    """Created on the internal network, given its config, connected to the egress
    network, started. Its audit log is kept when it is removed, for the summary."""

    def __init__(
        self, engine: Engine, plan: LaunchPlan, labels: dict[str, str], internal: str, egress: str
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.labels = {**labels, L.ROLE: L.ROLE_SIDECAR}
        self.internal = internal
        self.egress = egress
        self.name = plan.sidecar_name
        self.audit_log = ""
        self.address = ALIAS

    def create_args(self) -> tuple[str, ...]:
        # The sidecar stays on the default runtime (it needs the real network
        # stack) but is otherwise as locked down as the agent.
        return (
            "create", "--name", self.name,
            "--network", self.internal, "--network-alias", ALIAS,
            *L.label_args(self.labels),
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--pids-limit", "512", "--memory", "1g",
            "--env", "SENTRY_DSN=",
            self.plan.sidecar_image,
            "run", "--config", CONFIG_PATH, "--listen", f"0.0.0.0:{PROXY_PORT}",
        )  # fmt: skip

    def config_tar(self) -> bytes:
        config = render_pipelock_config(self.plan.bottle.egress).encode()
        return tar_bytes(
            [
                Entry(CONFIG_DIR.lstrip("/"), None, 0o755),
                Entry(CONFIG_PATH.lstrip("/"), config, 0o444),
            ]
        )

    def __enter__(self) -> EgressSidecar:
        self.engine.run(
            *self.create_args(),
            what=f"cannot create the egress sidecar from {self.plan.sidecar_image}",
        )
        try:
            self.engine.run(
                "cp",
                "-",
                f"{self.name}:/",
                stdin=self.config_tar(),
                what="cannot give the sidecar its configuration",
            )
            self.engine.run(
                "network",
                "connect",
                self.egress,
                self.name,
                what=f"cannot connect the sidecar to {self.egress}",
            )
            self.engine.run("start", self.name, what="the egress sidecar did not start")
            if self.plan.bottle.runtime == "runsc":
                # gVisor containers cannot reach the engine's embedded DNS: use the address.
                self.address = self.internal_ip()
        except BaseException:
            self.engine.run("rm", "-f", self.name, check=False)
            raise
        return self

    def internal_ip(self) -> str:
        fmt = f'{{{{(index .NetworkSettings.Networks "{self.internal}").IPAddress}}}}'
        ip = self.engine.run("inspect", "--format", fmt, self.name).stdout.strip()
        if not ip:
            raise ClaudeBottleError(f"the sidecar has no address on {self.internal}")
        return ip

    @property
    def proxy_url(self) -> str:
        return f"http://{self.address}:{PROXY_PORT}"

    def logs(self) -> str:
        result = self.engine.run("logs", self.name, check=False)
        return result.stdout + result.stderr

    def __exit__(self, *exc: Any) -> None:
        self.audit_log = self.engine.run("logs", self.name, check=False).stdout
        self.engine.run("rm", "-f", self.name, what=f"cannot remove the sidecar {self.name}")
