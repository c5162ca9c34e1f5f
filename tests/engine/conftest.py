"""Engine tests: a real Docker engine (started by scripts/setup-engine.sh) and the
real agent image. A missing engine is a failure here, never a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle import labels
from claude_bottle.engine import Engine
from claude_bottle.plan import DEFAULT_IMAGE


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/engine" in str(item.fspath):
            item.add_marker(pytest.mark.engine)


@pytest.fixture(scope="session")
def engine() -> Engine:
    eng = Engine.locate()
    result = eng.run("info", "--format", "{{.ServerVersion}}", check=False)
    if result.returncode != 0:
        pytest.fail(f"no Docker engine (run scripts/setup-engine.sh): {result.stderr.strip()}")
    return eng


@pytest.fixture(scope="session")
def agent_image(engine: Engine) -> str:
    if not engine.ok("image", "inspect", DEFAULT_IMAGE):
        pytest.fail(f"{DEFAULT_IMAGE} is missing: run 'claude-bottle build' (scripts/test.sh does)")
    return DEFAULT_IMAGE


def labelled_objects(engine: Engine) -> list[str]:
    flt = f"label={labels.MANAGED}=1"
    containers = engine.lines("ps", "-a", "--filter", flt, "--format", "container {{.Names}}")
    networks = engine.lines("network", "ls", "--filter", flt, "--format", "network {{.Name}}")
    return containers + networks


@pytest.fixture(autouse=True)
def nothing_left_behind(engine: Engine) -> Iterator[None]:
    """Every engine test must leave no claude-bottle object behind."""
    before = labelled_objects(engine)
    yield
    after = [o for o in labelled_objects(engine) if o not in before]
    assert after == [], f"left behind: {after}"


def cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """The CLI as a real process (not in-process), as users run it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "claude_bottle", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
