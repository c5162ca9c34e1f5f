"""Fuzzing the manifest reader and the CLI's argument handling with Hypothesis
(issue 10). Any exception other than the ones a user sees as one line is a
failure. Bounded (example counts, no deadline) so that it runs in about half a
minute; CI runs it with the unit tests."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_bottle.cli.main import main
from claude_bottle.errors import ManifestError
from claude_bottle.manifest.parse import parse_manifest_bytes
from tests.conftest import REVIEWER_MANIFEST

FUZZ = settings(
    max_examples=int(os.environ.get("CLAUDE_BOTTLE_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# JSON values with the manifest's own words and awkward numbers and strings mixed in.
WORDS = ["bottles", "agents", "egress", "allow", "internal", "network", "dlp", "proxy", "sni",
         "limits", "memory", "cpus", "pids", "bottle", "prompt", "prompt_file", "env", "skills",
         "ssh", "Host", "HostName", "User", "Port", "IdentityFile", "from_env", "optional",
         "runtime", "runc", "runsc", "description", "$schema", "dev", "reviewer", "squid",
         "pipelock", "block", "warn", "off", "api.anthropic.com", "*.github.com", "*", "0",
         "6m", "8g", "../../etc/passwd", "/dev/zero", "~/.ssh/id_rsa", "a\x00b", ""]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(WORDS)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=8),
                                                                 inner, max_size=4),
    max_leaves=30,
)  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A manifest folder with a skill and a prompt file, and a home with nothing
    in it; engine calls go to a docker that does not exist."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "skills" / "code-review").mkdir(parents=True)
    (root / "skills" / "code-review" / "SKILL.md").write_text("# review\n")
    (root / "p.md").write_text("prompt\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(root / "home"))
        mp.setenv("XDG_DATA_HOME", str(root / "data"))
        mp.setenv("XDG_CACHE_HOME", str(root / "cache"))
        mp.setenv("XDG_CONFIG_HOME", str(root / "config"))
        mp.setenv("CLAUDE_BOTTLE_DOCKER", "/nonexistent/docker")
        mp.delenv("CLAUDE_BOTTLE_MANIFEST", raising=False)
        mp.chdir(root)
        yield root


def read(raw: bytes, folder: Path) -> None:
    with contextlib.suppress(ManifestError):
        parse_manifest_bytes(raw, "m.json", folder)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_any_bytes_are_a_manifest_or_one_manifest_error(folder: Path, raw: bytes) -> None:
    read(raw, folder)


@FUZZ
@given(value=JSON_VALUES)
def test_any_json_is_a_manifest_or_one_manifest_error(folder: Path, value: Any) -> None:
    read(json.dumps(value).encode(), folder)


def _edit(data: Any, path: list[str], value: Any) -> Any:
    node = data
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return data
        node = node[key]
    if isinstance(node, dict):
        node[path[-1]] = value
    return data


PATHS = [
    ["agents", "reviewer", "prompt"], ["agents", "reviewer", "prompt_file"], ["agents", "reviewer", "env"],
    ["agents", "reviewer", "skills"], ["agents", "reviewer", "ssh"], ["agents", "reviewer", "bottle"],
    ["bottles", "dev", "limits"], ["bottles", "dev", "egress"], ["bottles", "dev", "runtime"],
    ["bottles", "dev", "limits", "cpus"], ["bottles", "dev", "limits", "memory"],
    ["bottles", "dev", "egress", "allow"], ["agents", "reviewer", "env", "MODE"], ["agents", "x"],
]  # fmt: skip


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), JSON_VALUES), max_size=4))
def test_edits_of_a_good_manifest_give_a_manifest_or_one_manifest_error(
    folder: Path, edits: list[tuple[list[str], Any]]
) -> None:
    data = json.loads(json.dumps(REVIEWER_MANIFEST))
    for path, value in edits:
        data = _edit(data, path, value)
    read(json.dumps(data).encode(), folder)


ARGS = ["start", "run", "ps", "stop", "cleanup", "sessions", "harvest", "validate", "init", "schema",
        "build", "trust", "--", "--cwd", "--json", "--dry-run", "--yes", "-y", "--all", "--manifest",
        "--session", "--timings", "-q", "--remote-control", "--extra-ca", "--force", "--help", "--version",
        "reviewer", "claude", "p.md", "m.json", "/dev/zero", "", "\x00", "-", "=",
        "--manifest=/dev/null"]  # fmt: skip


COMMANDS = ARGS[:12]
WORD = st.sampled_from(ARGS) | st.text(max_size=12) | st.text(min_size=300, max_size=5000)


@FUZZ
@given(argv=st.tuples(st.sampled_from(COMMANDS), st.lists(WORD, max_size=6)).map(lambda t: [t[0], *t[1]])
       | st.lists(WORD, max_size=7))  # fmt: skip
def test_any_command_line_ends_with_a_status_never_a_traceback(
    folder: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # main() returns; argparse's own exits come back as statuses too.
    status = main(argv)
    assert status in (0, 1, 2, 3, 130)
    assert "Traceback" not in capsys.readouterr().err
