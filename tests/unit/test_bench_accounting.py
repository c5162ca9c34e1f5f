"""The bench's count of a bottle's host processes (scripts/bench/bench_host.py): every
process that exists because of the bottle (its CLI and what the CLI started,
the containerd shims of its containers), none inside its containers, none of
another bottle's (issue 25: the shims were left out before)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def bench_host() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "bench_host.py"
    spec = importlib.util.spec_from_file_location("bench_host", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_host"] = module
    spec.loader.exec_module(module)
    return module


OURS, THEIRS = "a" * 64, "b" * 64
SESSION = "s3ss10n"


def table(bench_host: ModuleType) -> dict[int, object]:
    proc = bench_host.Proc
    shim = ("/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id")
    cli = ("/venv/bin/python", "/venv/bin/claude-bottle", "run", "x")
    exec_client = ("/usr/local/bin/docker", "exec", "-i", "claude-bottle-x", "true")
    rows = [
        proc(100, 1, "claude-bottle", cli, "0::/user"),
        proc(101, 100, "sh", ("/bin/sh", "-c", "trap", "claude-bottle-watchdog"), "0::/user"),
        proc(102, 100, "docker", exec_client, "0::/user"),
        proc(200, 1, "containerd-shim", (*shim, OURS), "0::/system.slice/containerd.service"),
        proc(201, 1, "containerd-shim", (*shim, OURS[:-1] + "c"), "0::/system.slice/containerd.service"),
        proc(300, 200, "sleep", ("sleep", "infinity"), f"0::/system.slice/docker-{OURS}.scope"),
        proc(301, 201, "squid", ("squid", "-N"), f"0::/system.slice/docker-{OURS[:-1]}c.scope"),
        # Another bottle's shim and process, and an unrelated process: not ours.
        proc(400, 1, "containerd-shim", (*shim, THEIRS), "0::/system.slice/containerd.service"),
        proc(401, 400, "sleep", ("sleep", "infinity"), f"0::/system.slice/docker-{THEIRS}.scope"),
        proc(500, 1, "bash", ("bash",), "0::/user"),
    ]
    return {p.pid: p for p in rows}


def test_a_bottles_host_processes_are_its_cli_tree_and_its_shims(bench_host: ModuleType) -> None:
    containers = {OURS: ("198.18.0.2",), OURS[:-1] + "c": ("198.18.0.3",)}
    found = bench_host.bottle_processes(table(bench_host), 100, SESSION, containers)
    assert sorted(p.pid for p in found.host) == [100, 101, 102, 200, 201]
    assert sorted(p.pid for p in found.inside) == [300, 301]
    assert len(found.shims()) == 2
    kinds = sorted(bench_host.kind(p) for p in found.host)
    assert kinds == [
        "claude-bottle CLI",
        "containerd-shim",
        "containerd-shim",
        "docker exec client",
        "watchdog (sh)",
    ]


def test_a_process_naming_the_session_counts_even_outside_the_cli_tree(bench_host: ModuleType) -> None:
    rows = table(bench_host)
    rows[600] = bench_host.Proc(600, 1, "sh", ("/bin/sh", "-c", f"reaper {SESSION}"), "0::/user")
    found = bench_host.bottle_processes(rows, 100, SESSION, {OURS: ()})
    assert 600 in {p.pid for p in found.host}
    assert 400 not in {p.pid for p in found.host}  # the positive control's counterpart
