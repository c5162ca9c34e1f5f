"""The agent container's spec as the Docker engine runs it: no value or manifest
name in its arguments, every hardening flag, the disk limit (pure)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from claude_bottle.bottle.agent import agent_spec, proxy_env
from claude_bottle.engine.docker.argv import container_args
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.plan.plan import Options, build_plan
from claude_bottle.plan.render import render_plan
from tests.plans import lab_plan, run_args


def test_agent_run_args_hold_no_value_and_no_manifest_name(tmp_path: Path) -> None:
    plan = lab_plan(tmp_path, runtime="runsc")
    args = run_args(plan, "c", "net", {"l": "1"}, "10.1.2.3")
    assert ("--env-file", "/dev/fd/7") in set(itertools.pairwise(args))  # the manifest's K is in there
    assert "K" not in args
    assert "v" not in args
    assert not any(a.startswith("K=") for a in args)
    assert args[args.index("--runtime") + 1] == "runsc"
    assert "HTTPS_PROXY=http://10.1.2.3:3128" in args  # Squid, the default proxy
    assert proxy_env("http://p:1")["NO_PROXY"] == "localhost,127.0.0.1"


def test_the_official_plugin_marketplace_is_not_installed_unless_the_manifest_says(tmp_path: Path) -> None:
    name = "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL"
    args = run_args(lab_plan(tmp_path), "c", "net", {}, "p")
    assert f"{name}=1" in args
    data = {
        "bottles": {"b": {"egress": {"allow": ["allowed.test"]}}},
        "agents": {"a": {"bottle": "b", "env": {name: "0"}}},
    }
    plan = build_plan(parse_manifest(data, "m", tmp_path), Options("a"), {}, "s1", frozenset())
    args = run_args(plan, "c", "net", {}, "p")
    assert f"{name}=1" not in args
    assert name not in args  # the manifest's value, in the env file


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_agent_run_args_carry_every_hardening_flag(tmp_path: Path, runtime: str) -> None:
    args = run_args(lab_plan(tmp_path, runtime=runtime), "c", "net", {}, "p")
    pairs = set(itertools.pairwise(args))
    assert {("--cap-drop", "ALL"), ("--security-opt", "no-new-privileges"), ("--network", "net"),
            ("--pids-limit", "1024"), ("--memory", "8g"), ("--cpus", "2")} <= pairs  # fmt: skip
    assert "--init" in args
    assert not any(a in args for a in ("--privileged", "--cap-add", "--volume", "-v", "--publish", "-p"))


def test_the_agent_s_disk_limit_is_in_its_arguments_only_where_the_engine_can(tmp_path: Path) -> None:
    spec = agent_spec(lab_plan(tmp_path), "c", "net", {}, "p")
    assert spec.limits.disk == "32g"
    assert ("--storage-opt", "size=32g") in set(
        itertools.pairwise(container_args(spec, env_file="/f", storage=True))
    )
    assert "--storage-opt" not in container_args(spec, env_file="/f", storage=False)
    data = {"bottles": {"b": {"egress": {"allow": ["a.test"]}}}, "agents": {"a": {"bottle": "b"}}}
    problem = "the engine's storage driver (overlay2 on extfs) cannot limit a container's disk"
    plan = build_plan(parse_manifest(data, "m", tmp_path), Options("a"), {}, "s1", frozenset(),
                      disk_limit_problem=problem)  # fmt: skip
    assert f"note: no disk limit in the bottle: {problem}; the harvest's caps still bound what comes out" in (
        render_plan(plan).splitlines()
    )
