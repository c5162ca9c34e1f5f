"""The sidecar puts the floor under its proxy as it starts (pure, against the
one fake engine): beside its join to the egress network, or after it where the
floor resolves internal hosts through that network; and never half-made."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.bottle.sidecar import EgressSidecar
from claude_bottle.engine.api import ContainerSpec
from claude_bottle.errors import ClaudeBottleError
from tests.fakes import FakeEngine
from tests.plans import lab_plan

SUBNET = ipaddress.IPv4Network("198.18.0.16/28")


def _sidecar(engine: FakeEngine, plan: Any, floor: bool = True) -> EgressSidecar:
    return EgressSidecar(engine, plan, {}, "internal", "egress", ip="198.18.0.30", by_address=False,
                         floor_subnet=SUBNET if floor else None)  # fmt: skip


def _names(engine: FakeEngine) -> list[str]:
    return [what for what, _ in engine.calls]


def test_the_floor_runs_beside_the_join_when_it_resolves_no_name(tmp_path: Path) -> None:
    engine = FakeEngine()
    plan = lab_plan(tmp_path, internal=["*.corp.test"])  # a wildcard names no address: nothing to resolve
    with _sidecar(engine, plan) as sidecar:
        calls = _names(engine)
        assert calls[0] == "run_container"
        assert sorted(calls[1:]) == ["connect", "run_to_end"]
        assert ("run_to_end", f"{sidecar.name}-floor") in engine.calls


def test_the_floor_follows_the_join_when_it_resolves_internal_hosts(tmp_path: Path) -> None:
    engine = FakeEngine()
    with _sidecar(engine, lab_plan(tmp_path, internal=["git.test"])):
        assert _names(engine) == ["run_container", "connect", "run_to_end"]


def test_no_floor_where_none_is_asked(tmp_path: Path) -> None:
    engine = FakeEngine()
    with _sidecar(engine, lab_plan(tmp_path), floor=False):
        assert _names(engine) == ["run_container", "connect"]


class FloorFails(FakeEngine):
    def run_to_end(
        self, spec: ContainerSpec, *, stdin: bytes | None = None, join: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append(("run_to_end", spec.name))
        return subprocess.CompletedProcess([], 1, "", "iptables-restore: line 9 failed")


@pytest.mark.parametrize("internal", [["git.test"], ["*.corp.test"]], ids=["after-join", "beside-join"])
def test_a_sidecar_whose_floor_failed_is_removed(tmp_path: Path, internal: list[str]) -> None:
    engine = FloorFails()
    sidecar = _sidecar(engine, lab_plan(tmp_path, internal=internal))
    with pytest.raises(ClaudeBottleError, match=r"cannot install the floor .*\(exit 1\): iptables-restore"):
        sidecar.__enter__()
    assert engine.calls[-1] == ("remove_containers", (sidecar.name,))
