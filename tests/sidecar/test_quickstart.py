"""The README's quick start, walked literally: its shell lines run as written
(`claude-bottle` on PATH), its JSON merged into the manifest as it says, with
the lab model endpoint standing in for the gateway, through to an answer from
the real Claude Code CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pexpect
import pytest

from claude_bottle.engine.docker import DockerEngine
from tests.engine.conftest import labelled_objects
from tests.installed import installed_cli
from tests.sidecar.conftest import PROXY, Lab, leave_interactive_session

# Every case here runs against the remote engine too (scripts/test.sh).
pytestmark = pytest.mark.remote_engine

README = Path(__file__).parents[2] / "README.md"
# The lab's model endpoint, on a private address: over plain HTTP, which needs no
# CA for Claude Code to trust. Pipelock cannot carry a plain-HTTP model endpoint
# (its DLP reads every plain-HTTP request and cannot exempt one host), so with
# Pipelock the gateway is HTTPS, as in the README, and the lab's CA reaches
# Claude Code as a file in a skill folder (`lab_ca`).
GATEWAY_HOST = "api.lab.test"
GATEWAY_URL = f"{'https' if PROXY == 'pipelock' else 'http'}://{GATEWAY_HOST}"


def quick_start() -> tuple[list[list[str]], list[dict[str, Any]]]:
    """The quick start's shell blocks (lines) and JSON blocks, in order."""
    text = README.read_text()
    section = text[text.index("## Quick start") :]
    section = section[: section.index("\n## ", 1)]
    shells = [
        [line for line in block.splitlines() if line.strip()]
        for block in re.findall(r"```sh\n(.*?)```", section, re.S)
    ]
    return shells, [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]


def merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    """As the README says: objects merged, lists added to."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key] += [v for v in value if v not in into[key]]
        else:
            into[key] = value


@pytest.fixture
def user(tmp_path: Path, lab: Lab, sidecar_image: str) -> dict[str, str]:
    """A new user's shell: claude-bottle on PATH, an empty project and home, the
    lab as the bottle's way out, and no credential but the gateway's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # As pipx puts it there: a link to the installed entry point, nothing else of its environment.
    (bin_dir / "claude-bottle").symlink_to(installed_cli())
    (tmp_path / "project").mkdir()
    (tmp_path / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "CLAUDE_BOTTLE_OAUTH_TOKEN")}
    return env | {
        "PATH": f"{bin_dir}:{env['PATH']}",
        "HOME": str(tmp_path / "home"),
        "CLAUDE_BOTTLE_EGRESS_NETWORK": lab.network,
        "CLAUDE_BOTTLE_SIDECAR_IMAGE": sidecar_image,
        "LLM_TOKEN": "lab-token",
    }


def lab_ca(project: Path, lab: Lab) -> dict[str, Any]:
    """The lab's CA for Claude Code, as a manifest fragment: a skill folder beside
    the manifest (the one way a manifest brings a file of its own into the bottle)
    holding the CA, and NODE_EXTRA_CA_CERTS naming where the skill lands."""
    skill = project / "skills" / "lab-ca"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: lab-ca\ndescription: the lab's CA\n---\nNothing to do.\n")
    (skill / "ca.pem").write_text(lab.ca_pem)
    env = {"NODE_EXTRA_CA_CERTS": "/home/node/.claude/skills/lab-ca/ca.pem"}
    return {"agents": {"claude": {"skills": ["lab-ca"], "env": env}}}


def sh(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def test_the_readme_quick_start_reaches_a_claude_code_answer(
    engine: DockerEngine, lab: Lab, user: dict[str, str], tmp_path: Path
) -> None:
    shells, snippets = quick_start()
    setup, session = shells[0], shells[1]
    assert setup == ["claude-bottle build", "claude-bottle init"]
    project = tmp_path / "project"
    for line in setup:
        result = sh(line, user, project)
        assert result.returncode == 0, f"{line}: {result.stderr}"

    # The gateway snippet, with the lab's endpoint for the example's; the lab's
    # address is private, so its host goes under egress.internal, as the README says.
    manifest = json.loads((project / "claude-bottle.json").read_text())
    snippet = json.loads(
        json.dumps(snippets[0])
        .replace("https://llm.example.com", GATEWAY_URL)
        .replace("llm.example.com", GATEWAY_HOST)
    )
    egress = snippet["bottles"]["dev"]["egress"]
    egress["internal"] = egress.pop("allow")
    merge(manifest, snippet)
    if PROXY == "pipelock":  # what a user of Pipelock adds, and the lab's CA
        merge(manifest, {"bottles": {"dev": {"egress": {"proxy": "pipelock"}}}})
        merge(manifest, lab_ca(project, lab))
    (project / "claude-bottle.json").write_text(json.dumps(manifest, indent=2))

    dry_run, trust, run, start = session
    assert (dry_run, trust, run, start) == (
        "claude-bottle start claude --dry-run",
        "claude-bottle trust",
        'echo "say hello" | claude-bottle run claude',
        "claude-bottle start claude",
    )
    plan = sh(dry_run, user, project)
    assert plan.returncode == 0, plan.stderr
    assert (
        f"sign-in          : model gateway {GATEWAY_URL} with ANTHROPIC_AUTH_TOKEN from $LLM_TOKEN\n"
    ) in plan.stderr
    assert "warning:" not in plan.stderr

    # The edited manifest is no longer the one `init` wrote: trust it again, at the terminal.
    untrusted = sh(run, user, project)
    assert untrusted.returncode == 3, untrusted.stderr
    asked = pexpect.spawn("bash", ["-c", trust], cwd=str(project), env=user, encoding="utf-8", timeout=60)
    try:
        asked.expect(r"api\.lab\.test")  # what it lets in, shown before the question
        asked.expect(r"trust this manifest, letting in everything listed above\? \[y/N\] ")
        asked.sendline("y")
        asked.expect("trusted ")
        asked.expect(pexpect.EOF)
    finally:
        asked.close(force=True)
    assert asked.exitstatus == 0

    answer = sh(run, user, project)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "hello from the lab model"
    assert "allowed : api.lab.test" in answer.stderr
    assert labelled_objects(engine) == []

    child = pexpect.spawn(
        "bash", ["-c", start], cwd=str(project), env=user, encoding="utf-8", timeout=90, dimensions=(40, 120)
    )
    try:
        child.expect(r"sign-in          : model gateway")
        child.expect(r"launch this agent\? \[y/N\] ")
        child.sendline("y")
        # Signed in through the gateway's token: no login screen.
        child.expect("API Usage Billing")
        leave_interactive_session(child)
    finally:
        child.close(force=True)
    assert labelled_objects(engine) == []


def test_without_any_sign_in_the_plan_warns_before_launch(user: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    assert sh("claude-bottle init", user, project).returncode == 0
    result = sh("claude-bottle start claude --dry-run", user, project)
    assert "sign-in          : none\n" in result.stderr
    assert "warning: no sign-in for Claude Code: the session opens at its login screen" in result.stderr
