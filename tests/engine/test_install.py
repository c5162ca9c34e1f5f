"""What a user installs, run as a user runs it.

The CLI these suites start is the wheel's entry point in a virtual environment
of its own (tests/installed.py), never the checkout; a fresh install builds,
proves the wall and runs a command from an empty folder with a fresh HOME; and
each way a user installs a Python tool (pipx, uv tool, pip --user, python -m)
gives a claude-bottle whose data files are there (`build` reads them all) and
whose `doctor` proves the wall. Installs are made offline from the wheel built
from this checkout: no test reaches a package index."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from claude_bottle import agent_image
from claude_bottle.engine.docker import DockerEngine
from tests.engine.conftest import cli
from tests.installed import ROOT, build_wheel, check_installed, cli_argv, installed_cli, interpreter_of


def test_the_cli_these_suites_run_is_the_installed_wheel(installed: Path) -> None:
    argv = cli_argv("--version")
    assert argv[0] == str(installed) == str(installed_cli())
    assert not Path(argv[0]).resolve().is_relative_to(ROOT)
    # Its interpreter imports claude_bottle from its own installation.
    found = subprocess.run(
        [interpreter_of(installed), "-c", "import claude_bottle; print(claude_bottle.__file__)"],
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout.strip()  # fmt: skip
    assert "site-packages" in found
    assert not Path(found).is_relative_to(ROOT), found
    # ... with a HOME of the run's own and nothing that points Python at the checkout.
    assert os.environ["HOME"] != pwd.getpwuid(os.getuid()).pw_dir
    assert "PYTHONPATH" not in os.environ
    version = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert version.endswith(f"(Claude Code {agent_image.CLAUDE_CODE_VERSION})\n")


def test_the_check_refuses_the_checkout(tmp_path: Path) -> None:
    """The guard above can fail: a script in the checkout, or one outside it whose
    Python imports the checkout, is refused."""
    with pytest.raises(RuntimeError, match="is in the checkout"):
        check_installed(ROOT / "src" / "claude_bottle" / "__main__.py")
    python = tmp_path / "python-with-checkout"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT / "src"} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    shim = tmp_path / "claude-bottle"
    shim.write_text(f"#!{python}\nfrom claude_bottle.cli.main import main_entry\nmain_entry()\n")
    shim.chmod(0o755)
    with pytest.raises(RuntimeError, match="imports claude_bottle from the checkout"):
        check_installed(shim)


def test_a_fresh_install_builds_proves_the_wall_and_runs_a_command(
    engine: DockerEngine, agent_image: str, tmp_path: Path
) -> None:
    """The issue's bar: a new virtual environment holding the wheel, an empty
    folder and a fresh HOME; `build`, `doctor` and `run claude -- echo ok` (the
    built-in manifest, the default topology) all succeed."""
    folder = tmp_path / "empty"
    folder.mkdir()
    env = {"HOME": str(tmp_path / "home")}
    built = cli("build", cwd=folder, env=env, timeout=900)
    assert built.returncode == 0, built.stderr
    assert "claude-bottle-squid:latest is up to date" in built.stderr
    doctor = cli("doctor", cwd=folder, env=env, timeout=180)
    assert doctor.returncode == 0, doctor.stderr
    assert "the wall held" in doctor.stderr
    ran = cli("run", "claude", "--", "echo", "ok", cwd=folder, env=env, timeout=180)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "ok\n"


def _pipx(wheel: Path, root: Path, env: dict[str, str]) -> Path:
    env |= {
        "PIPX_HOME": str(root / "pipx"),
        "PIPX_BIN_DIR": str(root / "bin"),
        "PIPX_MAN_DIR": str(root / "man"),
    }
    subprocess.run(
        [sys.executable, "-m", "pipx", "install", str(wheel)], env=env, check=True, capture_output=True
    )
    return root / "bin" / "claude-bottle"


def _uv_tool(wheel: Path, root: Path, env: dict[str, str]) -> Path:
    env |= {"UV_TOOL_DIR": str(root / "tools"), "UV_TOOL_BIN_DIR": str(root / "bin"),
            "UV_CACHE_DIR": str(root / "cache"), "UV_PYTHON_DOWNLOADS": "never"}  # fmt: skip
    argv = [
        sys.executable,
        "-m",
        "uv",
        "tool",
        "install",
        "--offline",
        "--python",
        sys.executable,
        str(wheel),
    ]
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return root / "bin" / "claude-bottle"


def _pip_user(wheel: Path, root: Path, env: dict[str, str]) -> Path:
    env["PYTHONUSERBASE"] = str(root / "user")
    argv = [sys.executable, "-m", "pip", "install", "-q", "--user", "--no-deps", str(wheel)]
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return root / "user" / "bin" / "claude-bottle"


def _python_m(wheel: Path, root: Path, env: dict[str, str]) -> Path:
    """`python -m claude_bottle`, from a --user install, through a two-line script."""
    _pip_user(wheel, root, env)
    script = root / "python-m"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m claude_bottle "$@"\n')
    script.chmod(0o755)
    return script


INSTALLERS: dict[str, Callable[[Path, Path, dict[str, str]], Path]] = {
    "pipx install": _pipx,
    "uv tool install": _uv_tool,
    "pip install --user": _pip_user,
    "python -m claude_bottle": _python_m,
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("dist"))


@pytest.mark.parametrize("how", list(INSTALLERS))
def test_every_install_path_gives_a_working_tool(
    how: str, wheel: Path, engine: DockerEngine, agent_image: str, tmp_path: Path
) -> None:
    # A fresh HOME, no package index (an install that needed one would fail), and
    # a folder outside the checkout (`python -m` looks in the current folder first).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONUSERBASE")}
    env |= {"HOME": str(tmp_path / "home"), "PIP_NO_INDEX": "1"}
    program = INSTALLERS[how](wheel, tmp_path, env)
    where = subprocess.run(
        [str(program), "--version"], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert where.startswith("claude-bottle 0.") or where.startswith("claude-bottle 1."), where
    imported = subprocess.run(
        [sys.executable, "-c", "import claude_bottle; print(claude_bottle.__file__)"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if how in ("pip install --user", "python -m claude_bottle"):  # the user site wins over the checkout
        assert imported.startswith(str(tmp_path / "user")), imported
    for command in ("build", "doctor"):
        result = subprocess.run(
            [str(program), command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{how}: {command}: {result.stderr}"
    assert "the wall held" in result.stderr
