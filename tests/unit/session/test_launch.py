"""The launch speaks only engine.api: with an engine that records what it is
asked (no Docker), the bottle plans around what the engine can promise, and
engine.select picks the engine, refusing what it cannot make."""

from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.engine import select
from claude_bottle.engine.api import (
    Capabilities,
    Engine,
)
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.errors import UsageError
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.plan.plan import LaunchPlan, Options, build_plan
from claude_bottle.session import launch
from claude_bottle.settings import Settings
from tests.fakes import FakeEngine as RecordingEngine

ASSIGNED = "10.99.0.7"  # what an engine that pins no address gives the sidecar


def plan_of(
    tmp_path: Path, proxy: str = "squid", runtime: str = "runc", network: str | None = None
) -> LaunchPlan:
    egress: dict[str, Any] = {
        "allow": ["a.test"],
        "proxy": proxy,
        **({"network": network} if network else {}),
    }
    data = {
        "bottles": {"b": {"runtime": runtime, "egress": egress}},
        "agents": {"a": {"bottle": "b"}},
    }
    options = Options("a", interactive=False)
    return build_plan(parse_manifest(data, "m", tmp_path), options, {}, "s1", frozenset())


class StandInWatchdog(contextlib.nullcontext[None]):
    """The watchdog's part in a teardown, without its process (that needs a real engine)."""

    def __init__(self, alive: bool) -> None:
        super().__init__()
        self.alive = alive
        self.orderly = False  # set by the launch, as on the real one
        self.finishing = False

    def will_remove(self) -> bool:
        self.finishing = self.finishing or (self.orderly and self.alive)
        return self.finishing


def launched(
    monkeypatch: pytest.MonkeyPatch, plan: LaunchPlan, caps: Capabilities, watchdog_alive: bool = False
) -> RecordingEngine:
    """The calls of one launch and teardown (the watchdog stood in for)."""
    monkeypatch.setattr(launch, "Reaper", lambda *_: StandInWatchdog(watchdog_alive))
    engine = RecordingEngine(caps)
    checked: Engine = engine  # the recording engine implements the whole protocol
    with launch.bottle(plan, checked) as session:
        session.ready()
    return engine


def test_an_engine_that_pins_addresses_starts_sidecar_and_agent_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = plan_of(tmp_path)
    engine = launched(monkeypatch, plan, Capabilities("pins", True, True, True))
    sidecar, agent = engine.containers[plan.sidecar_name], engine.containers[plan.container]
    assert sidecar.address is not None
    assert ipaddress.ip_address(sidecar.address) in plan.subnets
    assert ("address_of", plan.sidecar_name) not in engine.calls
    assert agent.env["HTTPS_PROXY"] == "http://egress-proxy:3128"  # by name: the engine resolves peers


def test_runsc_agents_reach_the_sidecar_by_its_pinned_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = plan_of(tmp_path, runtime="runsc")
    monkeypatch.setattr(launch, "preflight", lambda *_: None)  # no runsc registered here
    engine = launched(monkeypatch, plan, Capabilities("pins", True, True, True))
    sidecar, agent = engine.containers[plan.sidecar_name], engine.containers[plan.container]
    assert agent.env["HTTPS_PROXY"] == f"http://{sidecar.address}:3128"
    assert agent.runtime == "runsc"


def test_without_fixed_addresses_or_peer_names_the_sidecar_starts_first_and_the_agent_gets_its_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = plan_of(tmp_path)
    engine = launched(monkeypatch, plan, Capabilities("neither", False, False, False))
    assert engine.containers[plan.sidecar_name].address is None
    order = [call for call in engine.calls if call[0] in ("run_container", "address_of")]
    assert order == [
        ("run_container", plan.sidecar_name),
        ("address_of", plan.sidecar_name),
        ("run_container", plan.container),
    ]
    assert engine.containers[plan.container].env["HTTPS_PROXY"] == f"http://{ASSIGNED}:3128"
    removed = [names for call, names in engine.calls if call == "remove_containers"]
    assert removed[-2:] == [(plan.container,), (plan.sidecar_name,)]  # the agent first, then its sidecar


def test_a_failed_session_removes_everything_itself_though_the_watchdog_lives(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = plan_of(tmp_path)
    monkeypatch.setattr(launch, "Reaper", lambda *_: StandInWatchdog(alive=True))
    engine = RecordingEngine(Capabilities("pins", True, True, True))
    with pytest.raises(RuntimeError), launch.bottle(plan, engine):
        raise RuntimeError("the command's exec failed")
    removed = [(call, names) for call, names in engine.calls if call.startswith("remove_")]
    assert removed == [
        ("remove_containers", (plan.container,)),
        ("remove_containers", (plan.sidecar_name,)),
        ("remove_network", plan.network_name("internal")),
    ]


@pytest.mark.parametrize(
    ("watchdog_alive", "network"),
    [(True, None), (False, None), (True, "users-net")],
    ids=["watchdog", "no-watchdog", "a-network-the-user-named"],
)
def test_the_teardown_removes_the_agent_and_leaves_the_rest_to_a_live_watchdog(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, watchdog_alive: bool, network: str | None
) -> None:
    plan = plan_of(tmp_path, network=network)
    engine = launched(monkeypatch, plan, Capabilities("pins", True, True, True), watchdog_alive)
    removed = [(call, names) for call, names in engine.calls if call.startswith("remove_")]
    logs = engine.calls.index(("logs", plan.sidecar_name))
    # Its proxy's log is read once the agent is gone.
    assert engine.calls.index(("remove_containers", (plan.container,))) < logs
    if watchdog_alive and network is None:
        assert removed == [("remove_containers", (plan.container,))]
    else:  # nobody is left to remove them, or the user may remove their network at once
        assert removed == [
            ("remove_containers", (plan.container,)),
            ("remove_containers", (plan.sidecar_name,)),
            ("remove_network", plan.network_name("internal")),
        ]


def test_a_proxy_that_cannot_limit_ports_is_refused_where_the_floor_cannot_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = plan_of(tmp_path, proxy="pipelock")
    engine = RecordingEngine(Capabilities("isolated", True, True, shared_namespaces=False))
    with pytest.raises(UsageError) as refused, launch.bottle(plan, engine):
        pass
    assert str(refused.value) == (
        "bottles.b: the pipelock egress proxy lets a tunnel reach any port, and the floor that "
        "limits it cannot run on the isolated engine (it joins the sidecar's network namespace); "
        'use egress.proxy "squid", which enforces ports itself'
    )
    assert engine.calls == []  # refused before anything was made
    # Squid enforces its ports itself: it runs there.
    launched(monkeypatch, plan_of(tmp_path), Capabilities("isolated", True, True, shared_namespaces=False))


def test_pipelock_with_a_plain_http_model_endpoint_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    data = {
        "bottles": {"b": {"egress": {"allow": ["gw.test"], "proxy": "pipelock"}}},
        "agents": {"a": {"bottle": "b", "env": {"ANTHROPIC_BASE_URL": "http://gw.test"}}},
    }
    plan = build_plan(
        parse_manifest(data, "m", tmp_path), Options("a", interactive=False), {}, "s1", frozenset()
    )
    engine = RecordingEngine(Capabilities("pins", True, True, True))
    with pytest.raises(UsageError) as refused, launch.bottle(plan, engine):
        pass
    assert str(refused.value).startswith(
        "bottles.b: the model endpoint gw.test (ANTHROPIC_BASE_URL) is plain HTTP, and the pipelock egress "
        "proxy scans the headers and body of every plain-HTTP request, whatever its host"
    )
    assert engine.calls == []


def test_pipelock_gets_its_configuration_as_a_file_and_the_floor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = plan_of(tmp_path, proxy="pipelock")
    monkeypatch.setattr(launch, "preflight", lambda *_: None)
    engine = launched(monkeypatch, plan, Capabilities("pins", True, True, True))
    (config,) = engine.containers[plan.sidecar_name].files
    assert config.path == "/etc/claude-bottle/pipelock.yaml"
    assert b'"api_allowlist"' in config.content
    assert ("run_to_end", f"{plan.sidecar_name}-floor") in engine.calls


@pytest.mark.parametrize("proxy", ["squid", "pipelock"])
def test_every_proxy_gets_the_floor_where_a_container_can_join_its_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, proxy: str
) -> None:
    plan = plan_of(tmp_path, proxy=proxy)
    monkeypatch.setattr(launch, "preflight", lambda *_: None)
    engine = launched(monkeypatch, plan, Capabilities("pins", True, True, True))
    assert ("run_to_end", f"{plan.sidecar_name}-floor") in engine.calls
    # Where no container can join it, the engine's own walls are the floor (Kubernetes' policies).
    apart = launched(
        monkeypatch, plan_of(tmp_path), Capabilities("apart", True, True, shared_namespaces=False)
    )
    assert not any(call[0] == "run_to_end" for call in apart.calls)


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        pytest.param(
            "kubernetes",
            "the kubernetes engine is not in this version of claude-bottle; "
            "use the docker engine (CLAUDE_BOTTLE_ENGINE=docker)",
            id="kubernetes-not-here-yet",
        ),
        pytest.param(
            "podman",
            "CLAUDE_BOTTLE_ENGINE: 'podman' is not an engine claude-bottle knows (docker, kubernetes)",
            id="unknown",
        ),
    ],
)
def test_select_refuses_an_engine_it_cannot_make(
    monkeypatch: pytest.MonkeyPatch, chosen: str, message: str
) -> None:
    monkeypatch.setenv("CLAUDE_BOTTLE_ENGINE", chosen)
    # As a checkout without the Kubernetes engine's module sees it.
    monkeypatch.setattr(select, "KUBERNETES_MODULE", "claude_bottle.engine.no_such_engine")
    with pytest.raises(UsageError) as refused:
        select.locate(Settings.from_environ())
    assert str(refused.value) == message


def test_the_watchdog_makes_the_same_engine_again() -> None:
    engine = DockerEngine(binary="/usr/local/bin/docker")
    again = select.from_description(engine.describe(), Settings())
    assert isinstance(again, DockerEngine)
    assert again.binary == engine.binary
    with pytest.raises(UsageError):
        select.from_description(("podman", "/usr/bin/podman"), Settings())
