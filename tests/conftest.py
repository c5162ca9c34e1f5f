from __future__ import annotations

import base64
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.console import set_verbose
from claude_bottle.manifest.parse import load_manifest_file
from claude_bottle.manifest.trust import record_trust
from claude_bottle.paths import HostPaths
from tests.installed import installed_cli
from tests.records import check_records


def pytest_configure(config: pytest.Config) -> None:
    """The CLI processes the suites start get Ctrl-C as they would from a
    terminal. A suite started as a background job of a shell without job control
    inherits SIGINT ignored, every child after it too (an ignored signal stays
    ignored across exec), and a CLI that keeps Python's default handling
    (`egress --follow`) would then never see the Ctrl-C a test sends."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def quiet_console() -> Iterator[None]:
    """--verbose is set by cli/main.py for its process; after a test, it is off again."""
    yield
    set_verbose(False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/engine and tests/sidecar talks to the real engine."""
    for item in items:
        if {"engine", "sidecar"} & set(Path(str(item.fspath)).parts):
            item.add_marker(pytest.mark.engine)


@pytest.fixture(scope="session", autouse=True)
def trust_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test (and every CLI process it starts) keeps its trust records and
    its sessions' folders in folders of its own, never in the user's
    ~/.local/state and ~/.local/share. At the end, every session record the run
    wrote anywhere under its temporary folders is checked against the record's
    JSON Schema and its hash chain (tests/records.py)."""
    state, data = tmp_path_factory.mktemp("state"), tmp_path_factory.mktemp("data")
    previous = {name: os.environ.get(name) for name in ("XDG_STATE_HOME", "XDG_DATA_HOME")}
    os.environ["XDG_STATE_HOME"] = str(state)
    os.environ["XDG_DATA_HOME"] = str(data)
    yield state
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    problems = check_records(tmp_path_factory.getbasetemp())
    assert problems == [], "session records that do not hold:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def as_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """For the suites that run the CLI as a process (engine, sidecar, k8s): the
    installed wheel's `claude-bottle` (built first if need be, and checked not to
    be the checkout), run with a fresh HOME and without PYTHONPATH, as a user
    runs it. Yields the CLI's path."""
    cli = installed_cli()
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
    saved = {k: os.environ.get(k) for k in ("HOME", *dropped)}
    os.environ["HOME"] = str(tmp_path_factory.mktemp("home"))
    for name in dropped:
        os.environ.pop(name, None)
    yield cli
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def openssh_key(payload: str = "test") -> str:
    """Text shaped as an OpenSSH private key (what an IdentityFile must parse as),
    carrying `payload`; not a key ssh could use."""
    body = base64.b64encode(b"openssh-key-v1\0" + payload.encode()).decode()
    return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n"


def trust_manifest(path: Path) -> None:
    """Trust a manifest a test wrote, as `claude-bottle trust PATH --yes` would."""
    record_trust(load_manifest_file(path), HostPaths.from_environ(os.environ))


REVIEWER_MANIFEST: dict[str, Any] = {
    "bottles": {"dev": {"runtime": "runc", "egress": {"allow": ["api.anthropic.com", "*.github.com"]}}},
    "agents": {
        "reviewer": {
            "bottle": "dev",
            "prompt": "You review pull requests.",
            "env": {"GITHUB_TOKEN": {"from_env": "GH_TOKEN"}, "MODE": "review"},
            "skills": ["code-review"],
            "ssh": [{"Host": "github.com", "User": "git", "IdentityFile": "~/.ssh/id_ed25519"}],
        }
    },
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the reviewer manifest and its skill; cwd is set to it."""
    (tmp_path / "skills" / "code-review").mkdir(parents=True)
    (tmp_path / "skills" / "code-review" / "SKILL.md").write_text("# Code review\n")
    (tmp_path / "claude-bottle.json").write_text(json.dumps(REVIEWER_MANIFEST))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLAUDE_BOTTLE_MANIFEST", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return tmp_path


@pytest.fixture
def write_manifest(project: Path) -> Callable[[Any], Path]:
    def write(data: Any) -> Path:
        path = project / "claude-bottle.json"
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    return write


def wait_for(condition: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    """Poll `condition` until truthy or the deadline passes (no sleeps as synchronisation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
