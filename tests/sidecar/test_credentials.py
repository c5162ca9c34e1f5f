"""A bottle that holds no secret (issue 22), with the real proxy, the real Claude
Code and the lab: the sidecar adds the model credential, the git token and
signs with the ssh key; inside the bottle nothing holds their values (every
process's environment and command line, the whole file system, git's
configuration, ~/.ssh); the lab receives the real ones; an attacker's key to
the model host through the proxy is refused and reported. Pipelock adds no
credential: there the plan says each is inside the bottle, and it is."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pexpect
import pytest

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.proxies.credentials import PLACEHOLDER_BODY
from tests.canaries import search
from tests.engine.conftest import cli, labelled_objects
from tests.installed import cli_path
from tests.sidecar.conftest import PRODUCT_SIDECAR_IMAGE, PROXY, Lab, leave_interactive_session

ANSWER = "hello from the lab model"
# The answer as Claude Code's screen draws it: its words placed by cursor moves.
ANSWER_ON_SCREEN = r"hello(?:\x1b\[\d*G| )from(?:\x1b\[\d*G| )the(?:\x1b\[\d*G| )lab(?:\x1b\[\d*G| )model"


@pytest.fixture
def held(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The session's secrets, fresh, in the host's environment as a user has them."""
    values = {
        "LAB_API_KEY": "sk-ant-api03-" + secrets.token_hex(20),
        "CLAUDE_BOTTLE_OAUTH_TOKEN": "sk-ant-oat01-" + secrets.token_hex(20),
        "LAB_GIT_TOKEN": lab.git_token,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def lab_saw(lab: Lab, path: str, since: int = 0) -> list[dict[str, str]]:
    """The headers of each request for `path` in the lab's web log, from its
    entry `since` on (the lab serves every test of the session)."""
    return [e.get("headers", {}) for e in lab.web_log()[since:] if e.get("url", "").startswith(path)]


@pytest.mark.parametrize(
    "agent",
    [
        pytest.param("holder", marks=pytest.mark.remote_engine, id="runc"),
        pytest.param("holder-gvisor", id="runsc"),  # not remote: that engine has no gVisor
    ],
)
def test_nothing_inside_holds_a_secret_while_the_lab_receives_each(
    lab_project: Path, lab: Lab, held: dict[str, str], agent: str
) -> None:
    key_line = lab.key.read_text().splitlines()[1]  # a line of the private key's body
    mark = secrets.token_hex(4)
    if PROXY == "pipelock":
        # Nothing is held (the plan says so): Claude Code answers with the values inside.
        script = 'claude -p "say hello" && ' + search(list(held.values()))
        result = cli("run", agent, "--", "sh", "-c", script, cwd=lab_project)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == ANSWER
        assert "found=[]" not in result.stdout.splitlines()
        assert "/proc/" in result.stdout  # in the agent's environment
        return
    # ~/.ssh listed by the shell's glob, not `ls`: Debian 12's runsc (20221219)
    # answers coreutils' statx with EINVAL (docs/security.md, gVisor).
    script = (
        f'claude -p "say hello" && '
        f"git clone -q https://git.lab.test/repo.git /tmp/https && cat /tmp/https/README && "
        f"cd /tmp/https && echo {mark} > pushed && git add pushed && "
        "git -c user.name=a -c user.email=a@a.test commit -qm pushed && "
        f"git push -q origin HEAD:refs/heads/{mark} && "
        f"git clone -q git@git.allowed.test:repo.git /tmp/ssh && cat /tmp/ssh/README && cd / && "
        f"(cd ~/.ssh && printf '%s\\n' *) && echo agent=$(ssh-add -l | wc -l) && "
        + search([*held.values(), key_line])
    )
    since = len(lab.web_log())
    result = cli("run", agent, "--", "sh", "-c", script, cwd=lab_project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ANSWER
    assert lines[1:3] == ["lab repository over https", "lab repository"]
    assert "found=[]" in lines, result.stdout
    assert "control=/tmp/seeded" in lines  # the search finds what is there
    assert "agent=1" in lines, result.stderr  # the key is in the sidecar's agent, and usable
    assert "id_bottle_0_id_lab.pub" in lines  # ~/.ssh holds the key's public half alone
    assert not any(name.startswith("id_") and not name.endswith(".pub") for name in lines), lines
    # The lab got the real values, and never a placeholder.
    messages = lab_saw(lab, "/v1/messages", since)
    assert messages, "the lab's Messages API saw no request"
    assert {h.get("x-api-key") for h in messages} == {held["LAB_API_KEY"]}
    assert not any(h.get("authorization") for h in messages)
    git = lab_saw(lab, "/repo.git/", since)
    assert git, "git.lab.test saw no request"
    assert all(PLACEHOLDER_BODY not in str(h) for h in git)
    assert lab.engine.ok("exec", lab.web, "git", "--git-dir=/lab/git/repo.git", "rev-parse", "--verify", mark)
    allowed = next(line for line in result.stderr.splitlines() if "allowed :" in line)
    assert "api.lab.test" in allowed, allowed
    assert "git.lab.test" in allowed, allowed


@pytest.mark.remote_engine
def test_an_attacker_key_to_the_model_host_through_the_proxy_is_refused_and_reported(
    lab_project: Path, lab: Lab, held: dict[str, str]
) -> None:
    if PROXY == "pipelock":
        # Pipelock holds no credential: the plan says where the key is before anything starts.
        plan = cli("start", "keyed", "--dry-run", cwd=lab_project)
        assert "secret           : ANTHROPIC_API_KEY: inside the bottle (this egress proxy cannot add a " in (
            plan.stderr
        ), plan.stderr
        return
    mark = secrets.token_hex(4)
    script = (
        # Through the proxy (CONNECT and plain HTTP): refused before anything reaches the lab.
        f"curl -s -o /dev/null -w 'connect=%{{http_code}}\\n' -H 'x-api-key: sk-ant-api03-attacker' "
        f"--cacert /dev/null -k https://api.lab.test/v1/files?{mark}; "
        f"curl -s -o /dev/null -w 'plain=%{{http_code}}\\n' -H 'x-api-key: sk-ant-api03-attacker' "
        f"http://api.lab.test/v1/files?{mark}; "
        # The control: the sidecar's own port for the host answers (with the session's key).
        f'curl -s -o /dev/null -w "held=%{{http_code}}\\n" -H "x-api-key: sk-ant-api03-attacker" '
        f'"$ANTHROPIC_BASE_URL/v1/files?{mark}-held"'
    )
    result = cli("run", "keyed", "--", "sh", "-c", script, cwd=lab_project)
    assert result.returncode == 0, result.stderr
    assert "connect=000" in result.stdout or "connect=403" in result.stdout, result.stdout
    assert "plain=403" in result.stdout
    assert "held=200" in result.stdout
    seen = lab_saw(lab, "/v1/files")
    assert [h.get("x-api-key") for h in seen] == [held["LAB_API_KEY"]]  # the control's, replaced
    assert "api.lab.test: credential_host" in result.stderr or "api.lab.test:443: credential_host" in (
        result.stderr
    ), result.stderr


@pytest.mark.remote_engine
def test_the_sidecar_verifies_the_certificate_of_a_host_it_adds_a_credential_for(
    lab_project: Path, lab: Lab, held: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The product's own image, which does not trust the lab's CA: the sidecar
    refuses to send the key to a host it cannot verify (the lab sees nothing)."""
    if PROXY == "pipelock":
        # No credential held: the agent's own TLS client verifies (NODE_EXTRA_CA_CERTS has the lab's CA).
        plan = cli("start", "keyed", "--dry-run", cwd=lab_project)
        assert "ANTHROPIC_API_KEY: inside the bottle" in plan.stderr, plan.stderr
        return
    monkeypatch.setenv("CLAUDE_BOTTLE_SIDECAR_IMAGE", PRODUCT_SIDECAR_IMAGE)
    mark = secrets.token_hex(4)
    script = (
        f'curl -s -o /dev/null -w "status=%{{http_code}}\\n" "$ANTHROPIC_BASE_URL/v1/messages?{mark}" -d x'
    )
    result = cli("run", "keyed", "--", "sh", "-c", script, cwd=lab_project)
    assert result.returncode == 0, result.stderr
    assert "status=503" in result.stdout, result.stdout
    assert not lab.web_saw(mark)


@pytest.mark.remote_engine
@pytest.mark.parametrize(("agent", "header"), [("keyed", "x-api-key"), ("subscriber", "authorization")])
def test_start_reaches_claude_code_s_prompt_with_no_question_and_answers(
    engine: DockerEngine, lab_project: Path, lab: Lab, held: dict[str, str], agent: str, header: str
) -> None:
    printed = cli("run", agent, "--", "claude", "-p", "say hello", cwd=lab_project)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == ANSWER
    child = pexpect.spawn(
        cli_path(), ["start", agent], cwd=str(lab_project),
        env=dict(os.environ), encoding="utf-8", timeout=90, dimensions=(40, 120),
    )  # fmt: skip
    try:
        child.expect(r"launch this agent\? \[y/N\] ")
        child.sendline("y")
        child.expect("attaching interactive claude session")
        # Straight to the prompt: no question about the key, no login screen.
        index = child.expect(
            ["bypass permissions on", "Do you want to use this API key", "Select login method"]
        )
        assert index == 0, child.before
        child.send("say hello")
        child.send("\r")
        child.expect(ANSWER_ON_SCREEN)
        summary = leave_interactive_session(child, at_prompt=True)
        # All Claude Code sent went to its base URL, the sidecar's port: nothing
        # through the proxy (a request to the model host there would be refused).
        assert "refused : (nothing)" in summary, summary
    finally:
        child.close(force=True)
    assert labelled_objects(engine) == []
    value = held["LAB_API_KEY"] if header == "x-api-key" else f"Bearer {held['CLAUDE_BOTTLE_OAUTH_TOKEN']}"
    if PROXY != "pipelock":
        assert {h.get(header) for h in lab_saw(lab, "/v1/messages")} >= {value}
