"""How the plan says the agent signs in: by name, never the value, with a
warning before launch when it cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_bottle.cli.main import main
from claude_bottle.manifest.model import EnvVar
from claude_bottle.plan.signin import NO_SIGN_IN, SignIn, decide_sign_in

ALLOW = ("api.anthropic.com", "*.github.com")
KEY = EnvVar("ANTHROPIC_API_KEY", host_var="ANTHROPIC_API_KEY")
AUTH = EnvVar("ANTHROPIC_AUTH_TOKEN", host_var="LLM_TOKEN")
OAUTH = EnvVar("CLAUDE_CODE_OAUTH_TOKEN", host_var="CLAUDE_BOTTLE_OAUTH_TOKEN")


@pytest.mark.parametrize(
    ("env", "allow", "expected"),
    [
        pytest.param(
            [OAUTH],
            ALLOW,
            SignIn(
                "oauth_token",
                "Claude subscription token (claude setup-token) from $CLAUDE_BOTTLE_OAUTH_TOKEN",
            ),
            id="oauth-token",
        ),
        pytest.param(
            [KEY], ALLOW, SignIn("api_key", "ANTHROPIC_API_KEY from $ANTHROPIC_API_KEY"), id="api-key"
        ),
        pytest.param(
            [OAUTH, KEY],
            ALLOW,
            SignIn(
                "api_key",
                "ANTHROPIC_API_KEY from $ANTHROPIC_API_KEY",
                ("CLAUDE_CODE_OAUTH_TOKEN is set too and not used",),
            ),
            id="api-key-wins-over-oauth-token",
        ),
        pytest.param(
            [EnvVar("ANTHROPIC_BASE_URL", literal="https://user:pw@llm.corp.test/v1?k=s"), AUTH],
            ("llm.corp.test",),
            SignIn(
                "gateway", "model gateway https://llm.corp.test/v1 with ANTHROPIC_AUTH_TOKEN from $LLM_TOKEN"
            ),
            id="gateway-url-without-its-password",
        ),
        pytest.param(
            [EnvVar("ANTHROPIC_BASE_URL", literal="http://llm.corp.test")],
            ALLOW,
            SignIn(
                "gateway",
                "model gateway http://llm.corp.test with no credential",
                (
                    "llm.corp.test is not allowed by bottle 'dev', so Claude Code cannot reach its model "
                    "(add it to bottles.dev.egress.allow, or egress.internal for a private address)",
                ),
            ),
            id="gateway-host-not-allowed",
        ),
        pytest.param(
            [EnvVar("ANTHROPIC_BASE_URL", host_var="GATEWAY")],
            (),
            SignIn("gateway", "model gateway (ANTHROPIC_BASE_URL from $GATEWAY) with no credential"),
            id="gateway-from-the-host",
        ),
        pytest.param(
            [KEY],
            ("github.com",),
            SignIn(
                "api_key",
                "ANTHROPIC_API_KEY from $ANTHROPIC_API_KEY",
                (
                    "api.anthropic.com is not allowed by bottle 'dev', so Claude Code cannot reach its model "
                    "(add it to bottles.dev.egress.allow, or egress.internal for a private address)",
                ),
            ),
            id="api-host-not-allowed",
        ),
        pytest.param(
            [EnvVar("CLAUDE_CODE_USE_BEDROCK", literal="1"), KEY],
            (),
            SignIn("bedrock", "Amazon Bedrock (CLAUDE_CODE_USE_BEDROCK in the agent's env)"),
            id="bedrock",
        ),
        pytest.param([], ALLOW, SignIn("none", "none", (NO_SIGN_IN,)), id="none"),
    ],
)
def test_sign_in_method(env: list[EnvVar], allow: tuple[str, ...], expected: SignIn) -> None:
    assert decide_sign_in(env, allow, "dev") == expected


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLAUDE_BOTTLE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", "CLAUDE_BOTTLE_DRY_RUN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GH_TOKEN", "x")
    monkeypatch.setenv("CLAUDE_BOTTLE_DOCKER", "/nonexistent/docker")


def test_plan_warns_before_launch_when_there_is_no_sign_in(
    project: Path, clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["start", "reviewer", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "sign-in          : none\n" in err
    assert f"warning: {NO_SIGN_IN}\n" in err


def test_plan_names_the_token_and_never_shows_it(
    project: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAUDE_BOTTLE_OAUTH_TOKEN", "sk-ant-oat01-canary-9d2f")
    assert main(["start", "reviewer", "--dry-run", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["sign_in"] == {
        "method": "oauth_token",
        "description": "Claude subscription token (claude setup-token) from $CLAUDE_BOTTLE_OAUTH_TOKEN",
        "warnings": [],
    }
    assert json.loads(out)["warnings"] == []
    assert "canary-9d2f" not in out


def test_starter_manifest_signs_in_with_an_api_key_in_the_environment(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["init"]) == 0
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-canary")
    assert main(["start", "claude", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "sign-in          : ANTHROPIC_API_KEY from $ANTHROPIC_API_KEY\n" in err
    assert "warning:" not in err
    assert "canary" not in err
