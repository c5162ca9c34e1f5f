"""doctor's pure parts: the probe's output read into checks, the report a CI
job gates on, and the origin's spec on each engine (no engine)."""

from __future__ import annotations

import json

import pytest

from claude_bottle.cli.main import main
from claude_bottle.engine.api import ContainerSpec, EngineTarget, Limits
from claude_bottle.engine.docker.argv import container_args
from claude_bottle.engine.k8s import manifests
from claude_bottle.session.doctor import ALLOWED, Check, Report, wall_checks

HELD = f"doctor-origin {ALLOWED}\nrefused=403\ndirect=7\n"


@pytest.mark.parametrize(
    ("output", "host", "failed"),
    [
        pytest.param(HELD, ALLOWED, [], id="held"),
        pytest.param("doctor-origin 10.244.0.9\nrefused=403\ndirect=28\n", "10.244.0.9", [], id="by-address"),
        pytest.param(f"doctor-origin {ALLOWED}\nrefused=200\ndirect=7\n", ALLOWED,
                     ["refused host refused by the proxy"], id="refused-host-let-through"),
        pytest.param(f"doctor-origin {ALLOWED}\nrefused=403\ndirect=0\n", ALLOWED,
                     ["origin's address unreachable directly"], id="origin-reached-directly"),
        pytest.param("refused=403\ndirect=7\n", ALLOWED, ["allowed host reached through the proxy"],
                     id="no-answer"),
    ],
)  # fmt: skip
def test_wall_checks(output: str, host: str, failed: list[str]) -> None:
    assert [c.name for c in wall_checks(output, host) if not c.ok] == failed


def test_the_report_fails_unless_the_wall_was_tried_and_held() -> None:
    target = EngineTarget("kubernetes", context="lab", namespace="ns", endpoint="https://k")
    report = Report(target, "runc", checks=[Check("engine", True, "k")])
    assert (report.ok, report.to_json()["wall"]) == (False, "not tried")
    report.tried, report.wall = True, wall_checks(HELD)
    as_json = report.to_json()
    assert (report.ok, as_json["ok"], as_json["wall"]) == (True, True, "held")
    assert as_json["engine"] == {
        "name": "kubernetes",
        "context": "lab",
        "endpoint": "https://k",
        "namespace": "ns",
    }
    assert [c["part"] for c in as_json["checks"]] == ["engine", "wall", "wall", "wall"]
    report.wall = wall_checks(HELD.replace("refused=403", "refused=200"))
    assert report.to_json()["wall"] == "did not hold"
    json.dumps(report.to_json())  # it is JSON


def test_an_origin_listens_on_port_80_as_its_own_user_on_either_engine() -> None:
    spec = ContainerSpec("o", "claude-bottle:latest", "n", {}, Limits(pids=64, memory="64m"), ports=(80,),
                         low_ports=True)  # fmt: skip
    args = container_args(spec)
    assert args[args.index("--sysctl") + 1] == "net.ipv4.ip_unprivileged_port_start=0"
    assert "--user" not in args
    pod = manifests.pod_manifest(spec, manifests.PodOptions(pull_policy="Never", runtime_class=None))
    security = pod["spec"]["securityContext"]
    assert security["sysctls"] == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    assert security["runAsNonRoot"] is True
    plain = ContainerSpec("o", "claude-bottle:latest", "n", {}, Limits(pids=64, memory="64m"))
    assert "--sysctl" not in container_args(plain)
    assert (
        "sysctls"
        not in manifests.pod_manifest(plain, manifests.PodOptions("Never", None))["spec"]["securityContext"]
    )


def test_doctor_json_with_no_engine_is_still_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAUDE_BOTTLE_DOCKER", "/nonexistent/docker")
    assert main(["doctor", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("claude-bottle: docker not found")
