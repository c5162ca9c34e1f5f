"""Whether a bottle is ready: its sidecar answers, probed from inside the agent."""

from __future__ import annotations

from claude_bottle.bottle.sidecar import EgressSidecar
from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.tracking import labels as L


class SidecarUnhealthy(ClaudeBottleError):
    pass


def readiness_script(url: str, status: int, proxy: str | None, seconds: float) -> str:
    """A shell loop for the agent container: exit 0 once `url` answers `status`
    (through `proxy` when given), 1 when `seconds` pass first (pure)."""
    via = f"-x {proxy} --noproxy ''" if proxy else "--noproxy '*'"
    return (
        f"end=$(($(date +%s) + {max(1, round(seconds))})); "
        f"while :; do "
        f"c=$(curl -s -o /dev/null -w '%{{http_code}}' --max-time 1 {via} {url}); "
        f'[ "$c" = {status} ] && exit 0; '
        f'[ "$(date +%s)" -ge "$end" ] && exit 1; '
        f"sleep 0.05; done"
    )


def wait_until_healthy(engine: Engine, plan: LaunchPlan, agent: str, sidecar: EgressSidecar) -> None:
    """Probe the sidecar from inside the agent (the path its traffic takes), in
    one engine call that loops until the proxy answers or the timeout passes.
    A Ctrl-C meanwhile ends the call (and so the wait) at once."""
    check = plan.proxy.readiness(sidecar.address)
    script = readiness_script(check.url, check.status, sidecar.url if check.via_proxy else None,
                              plan.sidecar_timeout)  # fmt: skip
    probe = engine.exec(agent, ("sh", "-c", script))
    if probe.returncode != 0:
        log = sidecar.logs().strip() or "(empty)"
        tail = "\n".join(log.splitlines()[-20:])
        raise SidecarUnhealthy(
            f"the egress sidecar did not become healthy within "
            f"{plan.sidecar_timeout:g}s; its log ends:\n{tail}"
        )


def ended_since(engine: Engine, session_id: str, *containers: str) -> list[str]:
    """Which of a warm pool's bottle's containers ended since its keeper made it
    (none, for a bottle that can be claimed). Its keeper probed the sidecar from
    inside the agent then, and the floor stays in its namespace: what can have
    changed is that a part ended (the proxy is the sidecar's main process),
    which one engine call tells (issue 25: the probe, an exec in the agent, was
    a tenth of a warm run)."""
    found = engine.find([f"{L.SESSION}={session_id}"], kinds=("container",), running=True)
    return sorted(set(containers) - {f.name for f in found})
