"""Credentials held by the sidecar (issue 22), the pure parts: which the plan
holds and where every other secret is, what the agent gets instead (a
placeholder, a base URL on its sidecar, git's insteadOf, an agent socket), and
what the sidecar is given (its secrets, never in its configuration). The real
proxy adding them is tests/sidecar/test_credentials.py."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.bottle.agent import agent_spec, env_values, held_values
from claude_bottle.bottle.home import HomeFiles
from claude_bottle.bottle.sidecar import sidecar_spec
from claude_bottle.cli.main import main
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.manifest.model import EnvVar, SshEntry
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.plan.credentials import Credentials, Custody, decide_credentials
from claude_bottle.plan.plan import LaunchPlan, Options, build_plan
from claude_bottle.plan.signin import decide_sign_in
from claude_bottle.proxies import backend_for
from claude_bottle.proxies.credentials import (
    SSH_AGENT_PORT,
    Injection,
    UnusableCredential,
    header_value,
    placeholder,
)
from claude_bottle.proxies.squid import CREDENTIALS_ENV, SSH_KEYS_ENV, render_squid_config

ALLOW = ("api.anthropic.com", "github.com", "git.corp.test", "llm.corp.test")
OAUTH = EnvVar("CLAUDE_CODE_OAUTH_TOKEN", host_var="CLAUDE_BOTTLE_OAUTH_TOKEN")
KEY = EnvVar("ANTHROPIC_API_KEY", host_var="ANTHROPIC_API_KEY")
AUTH = EnvVar("ANTHROPIC_AUTH_TOKEN", host_var="LLM_TOKEN")
GH = EnvVar("GITHUB_TOKEN", host_var="GH_TOKEN")
SECRETS = {
    "CLAUDE_BOTTLE_OAUTH_TOKEN": "sk-ant-oat01-REAL-oauth-canary-1",
    "ANTHROPIC_API_KEY": "sk-ant-api03-REAL-key-canary-2",
    "LLM_TOKEN": "REAL-gateway-canary-3",
    "GH_TOKEN": "ghp_REALgithubcanary4",
    "CORP_TOKEN": "REAL-corp-canary-5",
}


def decide(
    env: list[EnvVar], injects: bool = True, allow: tuple[str, ...] = ALLOW, ssh: tuple[SshEntry, ...] = ()
) -> Credentials:
    return decide_credentials(env, decide_sign_in(env, allow, "b"), allow, injects, ssh)


@pytest.mark.parametrize(
    ("env", "port", "host", "header"),
    [
        pytest.param([OAUTH], 3130, "api.anthropic.com", "Authorization", id="subscription-token"),
        pytest.param([KEY], 3130, "api.anthropic.com", "X-Api-Key", id="api-key"),
        pytest.param(
            [EnvVar("ANTHROPIC_BASE_URL", literal="https://llm.corp.test/anthropic"), AUTH],
            3130, "llm.corp.test", "Authorization", id="gateway-token",
        ),
    ],
)  # fmt: skip
def test_the_model_credential_is_held_for_its_host(
    env: list[EnvVar], port: int, host: str, header: str
) -> None:
    credentials = decide(env)
    model = credentials.model
    assert model is not None
    assert (model.port, model.host, model.header) == (port, host, header)
    held = env[-1].name
    assert Custody(held, host) in credentials.custody
    assert held in credentials.placeholders


def test_a_gateway_path_is_kept_and_the_agent_is_pointed_at_its_sidecar() -> None:
    env = [EnvVar("ANTHROPIC_BASE_URL", literal="https://llm.corp.test:8443/anthropic/"), AUTH]
    model = decide(env).model
    assert model == Injection(
        3130, "llm.corp.test", "bearer", "ANTHROPIC_AUTH_TOKEN", "https", 8443, "/anthropic"
    )
    assert model.url("egress-proxy") == "http://egress-proxy:3130/anthropic"


def test_the_credential_claude_code_would_use_is_held_and_the_others_left_out() -> None:
    credentials = decide([OAUTH, KEY])
    assert credentials.model is not None
    assert credentials.model.variable == "ANTHROPIC_API_KEY"
    assert Custody("CLAUDE_CODE_OAUTH_TOKEN", None, "Claude Code signs in with ANTHROPIC_API_KEY", True) in (
        credentials.custody
    )
    # Not even a placeholder of it: with two credentials, Claude Code warns that sign-in may fail.
    assert (credentials.placeholders, credentials.left_out) == (
        ("ANTHROPIC_API_KEY",),
        ("CLAUDE_CODE_OAUTH_TOKEN",),
    )


@pytest.mark.parametrize(
    ("env", "injects", "why"),
    [
        pytest.param([OAUTH], False, "this egress proxy cannot add a credential", id="pipelock"),
        pytest.param(
            [EnvVar("ANTHROPIC_API_KEY", host_var="K", keep_inside=True)], True,
            'the manifest says "inject": false', id="opted-out",
        ),
        pytest.param(
            [EnvVar("ANTHROPIC_BASE_URL", host_var="URL"), AUTH], True,
            "the model endpoint comes from the host's environment", id="endpoint-from-host",
        ),
        pytest.param(
            [EnvVar("ANTHROPIC_BASE_URL", literal="https://u:p@llm.corp.test"), AUTH], True,
            "ANTHROPIC_BASE_URL is not a plain http(s) URL", id="url-with-password",
        ),
        pytest.param(
            [EnvVar("ANTHROPIC_BASE_URL", literal="https://elsewhere.test"), AUTH], True,
            "elsewhere.test is not allowed", id="endpoint-not-allowed",
        ),
    ],
)  # fmt: skip
def test_where_the_sidecar_cannot_hold_it_the_plan_says_it_is_inside(
    env: list[EnvVar], injects: bool, why: str
) -> None:
    credentials = decide(env, injects)
    assert credentials.injections == ()
    assert Custody(env[-1].name, None, why) in credentials.custody
    assert Custody(env[-1].name, None, why).text() == f"inside the bottle ({why})"


def test_bedrock_and_vertex_keep_their_own_credentials() -> None:
    env = [EnvVar("CLAUDE_CODE_USE_BEDROCK", literal="1"), EnvVar("AWS_SECRET_ACCESS_KEY", host_var="S")]
    credentials = decide(env)
    assert credentials.injections == ()
    assert Custody("AWS_SECRET_ACCESS_KEY", None) in credentials.custody


def test_git_tokens_are_held_for_their_hosts_each_on_a_port_of_its_own() -> None:
    corp = EnvVar("CORP_TOKEN", host_var="CORP_TOKEN", inject="git.corp.test")
    credentials = decide([KEY, GH, corp])
    assert [(i.port, i.host, i.style, i.variable) for i in credentials.injections] == [
        (3130, "api.anthropic.com", "x-api-key", "ANTHROPIC_API_KEY"),
        (3131, "github.com", "git-basic", "GITHUB_TOKEN"),
        (3132, "git.corp.test", "git-basic", "CORP_TOKEN"),
    ]
    # Without a model credential the git ports do not move.
    assert [i.port for i in decide([GH]).injections] == [3131]


def test_a_git_token_default_needs_its_host_allowed_and_a_second_one_stays_inside() -> None:
    assert decide([GH], allow=("api.anthropic.com",)).custody == (Custody("GITHUB_TOKEN", None),)
    second = decide([GH, EnvVar("GH_TOKEN", host_var="GH_TOKEN")])
    assert Custody("GH_TOKEN", None, "another variable is held for github.com") in second.custody


def test_a_plain_literal_is_no_secret_and_is_not_listed() -> None:
    assert decide([EnvVar("MODE", literal="review")]).custody == ()
    assert decide([EnvVar("MODE", host_var="MODE")]).custody == (Custody("MODE", None),)


def test_ssh_keys_are_held_by_the_sidecar_s_agent_unless_kept_inside() -> None:
    ssh = (
        SshEntry("gh", "github.com", identity_file="~/.ssh/a"),
        SshEntry("corp", "git.corp.test", identity_file="~/.ssh/b", key_inside=True),
        SshEntry("nokey", "git.corp.test"),
    )
    credentials = decide([], ssh=ssh)
    assert credentials.held_keys == (0,)
    assert credentials.custody == (
        Custody("ssh key ~/.ssh/a", "ssh to github.com, in its ssh-agent"),
        Custody("ssh key ~/.ssh/b", None, 'the manifest says "inject": false'),
    )
    assert decide([], injects=False, ssh=ssh).held_keys == ()


def test_header_values_are_shaped_by_style_and_refused_when_a_header_cannot_carry_them() -> None:
    assert header_value("bearer", "abc") == "Bearer abc"
    assert header_value("x-api-key", "abc") == "abc"
    basic = header_value("git-basic", "ghp_x")
    assert base64.b64decode(basic.removeprefix("Basic ")) == b"x-access-token:ghp_x"
    for bad in ('a"b', "a b", "a%b", "a\nb", ""):
        with pytest.raises(UnusableCredential):
            header_value("bearer", bad)


# A manifest of one agent holding everything the sidecar can hold.
def manifest(tmp_path: Path, proxy: str = "squid", **agent: Any) -> dict[str, Any]:
    return {
        "bottles": {
            "b": {"egress": {"allow": ["api.anthropic.com", "github.com", "git.corp.test"], "proxy": proxy}}
        },
        "agents": {
            "a": {
                "bottle": "b",
                "env": {
                    "ANTHROPIC_API_KEY": {"from_env": "ANTHROPIC_API_KEY"},
                    "GITHUB_TOKEN": {"from_env": "GH_TOKEN"},
                    "CORP_TOKEN": {"from_env": "CORP_TOKEN", "inject": "git.corp.test"},
                },
                **agent,
            }
        },
    }


def plan_of(tmp_path: Path, data: dict[str, Any]) -> LaunchPlan:
    """The plan in a home of `tmp_path`, with every secret but the subscription token set."""
    environ = {k: v for k, v in SECRETS.items() if k != "CLAUDE_BOTTLE_OAUTH_TOKEN"}
    return build_plan(
        parse_manifest(data, "m", tmp_path),
        Options("a"),
        {**environ, "HOME": str(tmp_path)},
        "s1",
        frozenset(),
    )


def test_the_agent_holds_placeholders_and_its_sidecar_the_values(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, manifest(tmp_path))
    spec = agent_spec(plan, "agent", "net", {}, "egress-proxy")
    assert spec.env["ANTHROPIC_API_KEY"] == placeholder("ANTHROPIC_API_KEY")
    assert spec.env["GITHUB_TOKEN"] == spec.env["CORP_TOKEN"] == placeholder("GITHUB_TOKEN")
    assert spec.env["ANTHROPIC_BASE_URL"] == "http://egress-proxy:3130"
    assert "egress-proxy" in spec.env["NO_PROXY"].split(",")
    assert spec.secret_env == ()
    assert env_values(plan, SECRETS) == {}
    held = held_values(plan, SECRETS)
    assert held == {
        3130: SECRETS["ANTHROPIC_API_KEY"],
        3131: header_value("git-basic", SECRETS["GH_TOKEN"]),
        3132: header_value("git-basic", SECRETS["CORP_TOKEN"]),
    }
    squid = backend_for("squid")
    config = render_squid_config(plan.proxy_spec())
    secrets = squid.secret_env(plan.proxy_spec(), held)
    lines = base64.b64decode(secrets[CREDENTIALS_ENV]).decode()
    assert f'request_header_add X-Api-Key "{SECRETS["ANTHROPIC_API_KEY"]}" inject_3130' in lines
    side = sidecar_spec(plan, "side", "net", None, {}, config, tuple(secrets))
    # The users of the plan's own images, for an engine that runs a container as a number.
    assert (spec.run_as, side.run_as) == ("1000:1000", "13:13")
    shown = json.dumps([config, repr(spec), repr(side)])
    for value in SECRETS.values():
        assert value not in shown
    assert CREDENTIALS_ENV in side.secret_env
    assert side.ports == (3128, 3130, 3131, 3132)
    for port, host in ((3130, "api.anthropic.com"), (3131, "github.com"), (3132, "git.corp.test")):
        assert f"http_port {port} accel defaultsite={host} no-vhost name=inject_{port}" in config


def test_a_value_no_header_can_carry_stops_the_launch_by_name(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, manifest(tmp_path))
    with pytest.raises(UsageError, match=r"GITHUB_TOKEN: the egress sidecar cannot add it for github.com"):
        held_values(plan, {**SECRETS, "GH_TOKEN": 'has "quotes"'})


def test_with_pipelock_everything_is_inside_and_the_plan_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_of(tmp_path, manifest(tmp_path, proxy="pipelock"))
    spec = agent_spec(plan, "agent", "net", {}, "egress-proxy")
    assert set(spec.secret_env) == {"ANTHROPIC_API_KEY", "GITHUB_TOKEN", "CORP_TOKEN"}
    assert [c.text() for c in plan.credentials.custody] == [
        "inside the bottle (this egress proxy cannot add a credential)"
    ] * 3


def test_git_is_pointed_at_the_sidecar_and_claude_code_knows_the_placeholder_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_of(tmp_path, manifest(tmp_path))
    files = HomeFiles.collect(plan, tmp_path, SECRETS)
    entries = {e.path: e.data for e in files.entries(plan, "egress-proxy", 3129)}
    assert entries[".gitconfig"] == (
        b'[url "http://egress-proxy:3131/"]\n\tinsteadOf = https://github.com/\n'
        b'[url "http://egress-proxy:3132/"]\n\tinsteadOf = https://git.corp.test/\n'
    )
    claude = json.loads(entries[".claude.json"] or b"")
    assert claude["customApiKeyResponses"] == {
        "approved": [placeholder("ANTHROPIC_API_KEY")[-20:]],
        "rejected": [],
    }
    # A key inside the bottle (Pipelock) is approved as itself: the session still asks nothing.
    inside = plan_of(tmp_path, manifest(tmp_path, proxy="pipelock"))
    claude = json.loads(HomeFiles.collect(inside, tmp_path, SECRETS).claude_json or b"")
    assert claude["customApiKeyResponses"]["approved"] == [SECRETS["ANTHROPIC_API_KEY"][-20:]]


def _key(home: Path, name: str, passphrase: str = "") -> None:
    (home / ".ssh").mkdir(exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(home / ".ssh" / name)],
                   check=True)  # fmt: skip


def test_a_held_ssh_key_goes_to_the_sidecar_and_only_its_public_half_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _key(tmp_path, "id_bottle")
    ssh = [{"Host": "github.com", "User": "git", "IdentityFile": "~/.ssh/id_bottle"}]
    plan = plan_of(tmp_path, manifest(tmp_path, ssh=ssh))
    files = HomeFiles.collect(plan, tmp_path, SECRETS)
    private = (tmp_path / ".ssh" / "id_bottle").read_bytes()
    assert [k.private for k in files.ssh.held] == [private]
    assert files.ssh.identities == ()
    entries = {e.path: e.data for e in files.entries(plan, "egress-proxy", 3129)}
    assert entries[".ssh/id_bottle_0_id_bottle.pub"] == (tmp_path / ".ssh" / "id_bottle.pub").read_bytes()
    assert private not in b"".join(d or b"" for d in entries.values())
    config = (entries[".ssh/config"] or b"").decode()
    assert "IdentityFile ~/.ssh/id_bottle_0_id_bottle.pub\n  IdentityAgent ~/.ssh/agent.sock\n" in config
    spec = agent_spec(plan, "agent", "net", {}, "egress-proxy")
    assert spec.env["SSH_AUTH_SOCK"] == f"{plan.container_home}/.ssh/agent.sock"
    assert spec.command[:2] == ("sh", "-c")
    assert spec.command[-3:] == (
        "egress-proxy",
        str(SSH_AGENT_PORT),
        f"{plan.container_home}/.ssh/agent.sock",
    )
    assert plan.proxy_spec().ssh_agent
    assert SSH_AGENT_PORT in plan.proxy.ports(plan.proxy_spec())
    keys = backend_for("squid").secret_env(plan.proxy_spec(), {}, [private])[SSH_KEYS_ENV]
    assert base64.b64decode(keys) == private


def test_a_key_with_a_passphrase_cannot_be_held_and_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _key(tmp_path, "id_locked", passphrase="secret phrase")
    ssh = [{"Host": "github.com", "IdentityFile": "~/.ssh/id_locked"}]
    plan = plan_of(tmp_path, manifest(tmp_path, ssh=ssh))
    with pytest.raises(ClaudeBottleError, match=r'a passphrase cannot be unlocked there.*"inject": false'):
        HomeFiles.collect(plan, tmp_path, SECRETS)
    inside = plan_of(tmp_path, manifest(tmp_path, ssh=[{**ssh[0], "inject": False}]))
    files = HomeFiles.collect(inside, tmp_path, SECRETS)
    assert files.ssh.held == ()
    assert len(files.ssh.identities) == 1


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"from_env": "T", "inject": "elsewhere.test"}, "host 'elsewhere.test' is not allowed by bottle 'b'"),
        ({"from_env": "T", "inject": "*.github.com"}, "expected one host name like 'github.com'"),
        ({"from_env": "T", "inject": 3}, "a host name, or false"),
    ],
)
def test_an_inject_host_must_be_one_the_bottle_allows(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    data = manifest(tmp_path)
    data["agents"]["a"]["env"]["T"] = entry
    with pytest.raises(ClaudeBottleError, match=message):
        parse_manifest(data, "m", tmp_path)


def test_an_ssh_entry_without_a_key_has_nothing_to_keep_inside(tmp_path: Path) -> None:
    data = manifest(tmp_path, ssh=[{"Host": "github.com", "inject": False}])
    with pytest.raises(ClaudeBottleError, match="only an entry with an IdentityFile"):
        parse_manifest(data, "m", tmp_path)


def test_the_plan_shows_where_each_secret_is(
    project: Path, write_manifest: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    write_manifest(manifest(project))
    assert main(["start", "a", "--dry-run", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["secrets"]
    assert shown == [
        {"name": "ANTHROPIC_API_KEY", "where": "sidecar", "host": "api.anthropic.com", "why": ""},
        {"name": "GITHUB_TOKEN", "where": "sidecar", "host": "github.com", "why": ""},
        {"name": "CORP_TOKEN", "where": "sidecar", "host": "git.corp.test", "why": ""},
        {
            "name": "CLAUDE_CODE_OAUTH_TOKEN",
            "where": "left out",
            "host": None,
            "why": "Claude Code signs in with ANTHROPIC_API_KEY",
        },
    ]
    assert main(["start", "a", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "secret           : ANTHROPIC_API_KEY: held by the sidecar for api.anthropic.com\n" in err
    for value in SECRETS.values():
        assert value not in err
