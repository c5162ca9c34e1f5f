"""Hostile and broken input: each gives one clear line and its exit status, never a
traceback (issue 10, "Bad input that broke through")."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.cli.main import main
from claude_bottle.errors import ManifestError
from claude_bottle.manifest.model import Limits
from claude_bottle.manifest.parse import nested_deeper_than, parse_manifest, parse_manifest_bytes
from claude_bottle.plan.plan import Options, build_plan
from claude_bottle.plan.render import render_plan, render_plan_json
from tests.conftest import openssh_key, trust_manifest
from tests.unit.manifest.test_parse import edited


def one_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


def deep(levels: int) -> str:
    return '{"agents": {"a": {"bottle": "b", "description": ' + "[" * levels + "]" * levels + "}}}"


BAD_TEXT = [
    pytest.param(deep(100_000), "invalid JSON: nested more than 20 levels deep", id="deep-nesting"),
    pytest.param(deep(19), "invalid JSON: nested more than 20 levels deep", id="depth-21"),
    pytest.param(
        json.dumps(edited(bottles__dev__limits={"cpus": 1})).replace("1}", "NaN}"),
        "invalid JSON: NaN is not a JSON number",
        id="cpus-nan",
    ),
    pytest.param(
        json.dumps(edited(bottles__dev__limits={"cpus": 1})).replace("1}", "Infinity}"),
        "invalid JSON: Infinity is not a JSON number",
        id="cpus-infinity",
    ),
    pytest.param(
        json.dumps(edited(agents__reviewer__env={"MODE": "a\0b"})),
        "agents.reviewer.env.MODE: contains a NUL character (\\u0000), which no value here may hold",
        id="env-literal-nul",
    ),
    pytest.param(
        json.dumps(edited(agents__reviewer__ssh=[{"Host": "github.com", "User": "g\0it"}])),
        "agents.reviewer.ssh[0].User: contains a NUL character",
        id="ssh-user-nul",
    ),
    pytest.param(
        json.dumps(edited(agents__reviewer__env={"MODE": "x" * 40_000})),
        "agents.reviewer.env.MODE: is longer than 32 KiB",
        id="env-literal-too-long",
    ),
    pytest.param(
        json.dumps(edited(bottles__dev__limits={"memory": "0"})),
        'bottles.dev.limits.memory: expected at least "6m" (the engine\'s minimum; 0 would remove the '
        "limit), got '0'",
        id="memory-zero",
    ),
    pytest.param(
        json.dumps(edited(bottles__dev__limits={"memory": "5m"})),
        'bottles.dev.limits.memory: expected at least "6m"',
        id="memory-below-minimum",
    ),
    pytest.param(
        json.dumps(edited(bottles__dev__limits={"memory": "9999999999999g"})),
        "bottles.dev.limits.memory: expected at most \"1048576g\", got '9999999999999g'",
        id="memory-absurd",
    ),
    pytest.param(
        json.dumps(edited(bottles__dev__limits={"cpus": 0})),
        "bottles.dev.limits.cpus: expected a number of at least 0.01, got 0",
        id="cpus-zero",
    ),
    pytest.param(
        json.dumps(edited(bottles__dev__limits={"pids": 10**22})),
        "bottles.dev.limits.pids: expected a whole number from 64 to 4194304, got 10000000000000000000000",
        id="pids-huge",
    ),
    pytest.param(
        json.dumps(edited(bottles__dev__limits={"pids": 100.5})),
        "bottles.dev.limits.pids: expected a whole number from 64 to 4194304, got 100.5",
        id="pids-fraction",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_TEXT)
def test_bad_input_is_one_line_and_exit_2(
    text: str, message: str, write_manifest: Callable[[Any], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_manifest(text)
    assert main(["validate"]) == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith(f"claude-bottle: {path}: {message}")


def test_a_manifest_over_the_size_cap_is_refused_unread(
    write_manifest: Callable[[Any], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_manifest(" " * (16 * 1024 * 1024 + 1) + "{}")
    assert main(["validate"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"claude-bottle: {path}: {path} is larger than 16 MiB (16777219 bytes)\n"
    )


def test_a_manifest_that_is_a_fifo_is_refused_without_hanging(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = project / "m.json"
    os.mkfifo(fifo)
    assert main(["validate", "--manifest", str(fifo)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"claude-bottle: {fifo}: cannot read {fifo}: a FIFO, not a regular file\n"
    )


@pytest.mark.parametrize(
    ("depth", "deeper"),
    [
        pytest.param(20, False, id="20"),
        pytest.param(21, True, id="21"),
    ],
)
def test_nesting_counts_brackets_outside_strings_only(depth: int, deeper: bool) -> None:
    assert nested_deeper_than("[" * depth + "]" * depth, 20) is deeper
    assert nested_deeper_than('{"a":' * depth + '"[[[[\\"{{{{"' + "}" * depth, 20) is deeper


def test_unclosed_deep_json_is_invalid_json_not_a_crash() -> None:
    with pytest.raises(ManifestError, match=r"^m: invalid JSON"):
        parse_manifest_bytes(b"[" * 100_000, "m", Path("/"))


def test_cpus_above_the_hosts_count_are_capped_with_a_note(tmp_path: Path) -> None:
    data = {"bottles": {"b": {"egress": {"allow": ["a.test"]}}}, "agents": {"a": {"bottle": "b"}}}
    manifest = parse_manifest(data, "m", tmp_path)
    assert manifest.bottles["b"].limits == Limits(cpus=2.0)  # the default
    plan = build_plan(manifest, Options("a"), {}, "s1", frozenset(), host_cpus=1)
    assert plan.bottle.limits.cpus == 1.0
    assert plan.notes == ("cpus 2 (bottles.b.limits.cpus) capped to this host's 1",)
    assert "note: cpus 2 (bottles.b.limits.cpus) capped to this host's 1" in render_plan(plan)
    assert json.loads(render_plan_json(plan))["bottle"]["limits"]["cpus"] == 1.0
    roomy = build_plan(manifest, Options("a"), {}, "s1", frozenset(), host_cpus=8)
    assert (roomy.bottle.limits.cpus, roomy.notes) == (2.0, ())


@pytest.mark.parametrize("raw", ["nan", "inf", "-1", "0", "1e9", "soon"])
def test_sidecar_timeout_must_be_finite_and_positive(
    raw: str, project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAUDE_BOTTLE_DOCKER", "/nonexistent/docker")
    monkeypatch.setenv("GH_TOKEN", "x")
    monkeypatch.setenv("CLAUDE_BOTTLE_SIDECAR_TIMEOUT", raw)
    assert main(["start", "reviewer", "--dry-run"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "claude-bottle: CLAUDE_BOTTLE_SIDECAR_TIMEOUT must be a positive number of seconds up to 86400, "
        f"got '{raw}'\n"
    )


@pytest.mark.parametrize("command", [["run", "reviewer", "--", "true"], ["ps"], ["cleanup"]])
def test_a_docker_that_answers_nothing_is_not_an_engine(
    command: list[str], project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    trust_manifest(project / "claude-bottle.json")
    key = project / "home" / ".ssh" / "id_ed25519"  # the reviewer's key: the plan checks it first
    key.parent.mkdir(parents=True)
    key.write_text(openssh_key())
    key.chmod(0o600)
    monkeypatch.setenv("GH_TOKEN", "x")
    monkeypatch.setenv("CLAUDE_BOTTLE_DOCKER", "/bin/true")
    assert main(command) == 1
    assert one_line(capsys.readouterr().err) == (
        "claude-bottle: /bin/true does not answer like the docker CLI ('version' printed nothing where "
        "the engine's version belongs); set CLAUDE_BOTTLE_DOCKER to the docker CLI\n"
    )


def test_200000_agents_validate_in_linear_time(tmp_path: Path) -> None:
    agents = {f"agent-{i}": {"bottle": "b", "prompt": "p"} for i in range(200_000)}
    bottles = {f"bottle-{i}": {"egress": {"allow": ["a.test"]}} for i in range(1_000)}
    bottles["b"] = {"egress": {"allow": ["a.test"]}}
    raw = json.dumps({"bottles": bottles, "agents": agents}).encode()
    # CPU time, not wall time: other work on a shared machine must not fail this.
    start = time.process_time()
    manifest = parse_manifest_bytes(raw, "m", tmp_path)
    elapsed = time.process_time() - start
    assert len(manifest.agents) == 200_000
    assert elapsed < 5.0, f"200,000 agents took {elapsed:.2f}s"


def _prompt_file_cases(project: Path, case: str) -> tuple[str, str]:
    """(prompt_file as written in the manifest, the message's tail) for each hostile form."""
    outside = project.parent / f"{project.name}-secret.txt"
    outside.write_text("root:secret\n")
    if case == "absolute":
        return str(outside), f"'{outside}' resolves to {outside}, outside the manifest's folder {project}"
    if case == "dotdot":
        rel = f"../{outside.name}"
        return rel, f"'{rel}' resolves to {outside}, outside the manifest's folder {project}"
    if case == "symlink":
        (project / "prompt.md").symlink_to(outside)
        return "prompt.md", f"'prompt.md' resolves to {outside}, outside the manifest's folder {project}"
    if case == "dev-zero":
        (project / "zero.md").symlink_to("/dev/zero")
        return "zero.md", f"'zero.md' resolves to /dev/zero, outside the manifest's folder {project}"
    if case == "fifo":
        os.mkfifo(project / "fifo.md")
        return "fifo.md", f"cannot read {project / 'fifo.md'}: a FIFO, not a regular file"
    if case == "folder":
        (project / "prompts").mkdir()
        return "prompts", f"cannot read {project / 'prompts'}: a folder, not a regular file"
    assert case == "too-big"
    (project / "big.md").write_bytes(b"x" * (1024 * 1024 + 1))
    return "big.md", f"{project / 'big.md'} is larger than 1 MiB (1048577 bytes)"


@pytest.mark.parametrize("case", ["absolute", "dotdot", "symlink", "dev-zero", "fifo", "folder", "too-big"])
def test_prompt_file_stays_inside_the_manifest_folder_and_is_a_small_regular_file(
    case: str, project: Path, write_manifest: Callable[[Any], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    written, tail = _prompt_file_cases(project, case)
    path = write_manifest(edited(agents__reviewer__prompt=..., agents__reviewer__prompt_file=written))
    assert main(["validate"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"claude-bottle: {path}: agents.reviewer.prompt_file: {tail}"
        + (" (a prompt file must be inside it)\n" if "outside" in tail else "\n")
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["validate", "--manifest", "a\0b"], "argument contains a NUL character", id="nul"),
        pytest.param(
            ["validate", "--manifest", "0" * 300],
            f"'{'0' * 200}...': cannot use this path (named by --manifest): File name too long",
            id="name-too-long",
        ),
        pytest.param(
            ["trust", "0" * 300],
            f"'{'0' * 200}...': cannot use this path (named by trust): File name too long",
            id="trust-name-too-long",
        ),
    ],
)
def test_paths_the_fuzzer_found_are_one_line_and_exit_2(
    argv: list[str], message: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert one_line(capsys.readouterr().err) == f"claude-bottle: {message}\n"
