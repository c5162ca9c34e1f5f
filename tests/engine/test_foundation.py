from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.tracking import labels
from tests.engine.conftest import case_label, cli


def test_agent_image_runs_the_real_claude_code_cli_as_node(engine: DockerEngine, agent_image: str) -> None:
    out = engine.run(
        "run",
        "--rm",
        agent_image,
        "sh",
        "-c",
        "id -un; pwd; claude --version; git --version; ssh -V 2>&1; nc -h 2>&1 | head -1",
    ).stdout
    user, cwd, claude_version, *_ = out.splitlines()
    assert user == "node"
    assert cwd == "/home/node/workspace"
    assert claude_version.endswith("(Claude Code)")
    assert "git version" in out
    assert "OpenSSH" in out


def test_agent_image_has_claude_code_first_run_answers(engine: DockerEngine, agent_image: str) -> None:
    out = engine.run(
        "run",
        "--rm",
        agent_image,
        "cat",
        "/home/node/.claude.json",
        "/home/node/.claude/settings.json",
    ).stdout
    state, settings = (json.loads(x) for x in out.strip().split("\n"))
    assert state["hasCompletedOnboarding"] is True
    assert state["projects"]["/home/node/workspace"]["hasTrustDialogAccepted"] is True
    assert settings == {"skipDangerousModePermissionPrompt": True}


def test_build_reuses_an_up_to_date_image(engine: DockerEngine, agent_image: str, tmp_path: Path) -> None:
    extra = (
        ["--extra-ca", "/etc/ssl/certs/ca-certificates.crt"]
        if Path("/etc/ssl/certs/ca-certificates.crt").exists()
        else []
    )
    before = engine.run("image", "inspect", "--format", "{{.Id}}", agent_image).stdout
    result = cli("build", *extra, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"image {agent_image} is up to date" in result.stderr
    assert engine.run("image", "inspect", "--format", "{{.Id}}", agent_image).stdout == before


def _objects_of_this_test(engine: DockerEngine) -> list[str]:
    """Anything in the engine carrying this test's label, claude-bottle's or not."""
    flt = ("--filter", f"label={case_label()}")
    return (
        engine.lines("ps", "-a", *flt, "--format", "container {{.Names}}")
        + engine.lines("network", "ls", *flt, "--format", "network {{.Name}}")
        + engine.lines("volume", "ls", *flt, "--format", "volume {{.Name}}")
    )


def test_dry_run_of_the_issue_example_leaves_nothing_behind(
    engine: DockerEngine, project: Path, tmp_path: Path
) -> None:
    # Its own temporary folder, so that other processes' files in /tmp do not count.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    secret = "canary-dry-run-31337"
    result = cli("start", "reviewer", "--dry-run", cwd=project, env={"GH_TOKEN": secret, "TMPDIR": str(tmp)})
    assert result.returncode == 0, result.stderr
    assert "env (names only) : GITHUB_TOKEN, MODE" in result.stderr
    # Where it would run: the engine the docker CLI reaches, asked once, as the session would pin it.
    context, endpoint = engine.current_endpoint()
    context = "" if os.environ.get("DOCKER_HOST") else context  # DOCKER_HOST wins over any context
    assert endpoint.startswith(("unix://", "tcp://", "ssh://")), endpoint
    shown = f"runs on          : Docker, endpoint {endpoint}" + (f" (context {context})" if context else "")
    assert shown + "\n" in result.stderr
    as_json = cli("start", "reviewer", "--dry-run", "--json", cwd=project, env={"GH_TOKEN": secret})
    assert json.loads(as_json.stdout)["engine"] == {
        "name": "docker",
        "context": context,
        "endpoint": endpoint,
    }
    assert secret not in result.stderr + result.stdout
    assert _objects_of_this_test(engine) == []
    assert list(tmp.iterdir()) == []


def test_plan_picks_the_next_free_container_name(
    engine: DockerEngine, agent_image: str, project: Path
) -> None:
    # An agent name of this test's own, so no other bottle on the engine holds its names.
    agent = f"reviewer-{secrets.token_hex(4)}"
    manifest = json.loads((project / "claude-bottle.json").read_text())
    manifest["agents"] = {agent: manifest["agents"]["reviewer"]}
    (project / "claude-bottle.json").write_text(json.dumps(manifest))
    taken = f"claude-bottle-{agent}"
    engine.run(
        "create", "--name", taken, "--label", f"{labels.MANAGED}=test", "--label", case_label(), agent_image
    )
    try:
        result = cli("start", agent, "--dry-run", "--json", cwd=project, env={"GH_TOKEN": "x"})
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["container"] == f"{taken}-2"
        pinned = cli(
            "start",
            agent,
            "--dry-run",
            cwd=project,
            env={"GH_TOKEN": "x", "CLAUDE_BOTTLE_CONTAINER": taken},
        )
        assert pinned.returncode == 2
        assert f"container '{taken}' already exists (pinned via CLAUDE_BOTTLE_CONTAINER)" in pinned.stderr
    finally:
        engine.run("rm", "-f", taken)
