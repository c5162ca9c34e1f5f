"""A small launch plan for the pure tests, and the agent's `docker run` arguments made from it."""

from __future__ import annotations

from pathlib import Path

from claude_bottle.bottle.agent import agent_spec
from claude_bottle.engine.docker.argv import container_args
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.plan.plan import LaunchPlan, Options, build_plan


def lab_plan(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    ssh: list[dict[str, object]] | None = None,
    runtime: str = "runc",
    internal: list[str] | None = None,
):
    egress = {"allow": ["allowed.test"], "internal": internal or ["git.test"]}
    data = {
        "bottles": {"b": {"runtime": runtime, "egress": egress}},
        "agents": {"a": {"bottle": "b", "ssh": ssh or [], "env": {"K": {"from_env": "HOSTK"}}}},
    }
    return build_plan(parse_manifest(data, "m", tmp_path), Options("a"), {"HOSTK": "v"}, "s1", frozenset())


def run_args(
    plan: LaunchPlan, name: str, network: str, labels: dict[str, str], proxy_host: str
) -> tuple[str, ...]:
    """The agent's `docker run` arguments, as the Docker engine translates its spec."""
    spec = agent_spec(plan, name, network, labels, proxy_host)
    return ("run", "--detach", *container_args(spec, env_file="/dev/fd/7"))
