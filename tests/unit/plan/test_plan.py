from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_bottle.cli.main import main
from claude_bottle.errors import UsageError
from claude_bottle.hostnames import host_matches, host_pattern_problem
from claude_bottle.manifest.model import EnvVar
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.plan.names import choose_container_name, next_container_name, slugify
from claude_bottle.plan.plan import Options, build_plan
from tests.host import load_here

SECRET = "canary-7f3a9b-do-not-leak"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in (
        "CLAUDE_BOTTLE_IMAGE",
        "CLAUDE_BOTTLE_CONTAINER",
        "CLAUDE_BOTTLE_OAUTH_TOKEN",
        "CLAUDE_BOTTLE_CONTAINER_HOME",
        "CLAUDE_BOTTLE_DERIVED_IMAGE",
        "CLAUDE_BOTTLE_DRY_RUN",
        "CLAUDE_BOTTLE_EGRESS_NETWORK",
        "CLAUDE_BOTTLE_DOCKER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GH_TOKEN", SECRET)
    # Dry runs ask the engine which names are taken; none here.
    monkeypatch.setenv("CLAUDE_BOTTLE_DOCKER", "/nonexistent/docker")
    return {"GH_TOKEN": SECRET}


def test_dry_run_prints_every_plan_field_without_values(
    project: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads((project / "claude-bottle.json").read_text())
    data["agents"]["reviewer"]["env"]["MODE"] = "literal-value-4411"
    (project / "claude-bottle.json").write_text(json.dumps(data))
    assert main(["start", "reviewer", "--dry-run"]) == 0
    err = capsys.readouterr().err
    for field in (
        "agent            : reviewer",
        "image            : claude-bottle:latest",
        "container        : claude-bottle-reviewer",
        "env (names only) : GITHUB_TOKEN, MODE",
        "skills           : code-review",
        "bottle           : dev",
        "  runtime        : runc",
        "  ssh hosts      : github.com",
        "  egress         : 2 host(s): api.anthropic.com, *.github.com",
        "prompt           : 25 chars; first line: You review pull requests.",
        "remote-control   : disabled",
        "dry-run requested; not starting container.",
    ):
        assert field in err
    assert SECRET not in err
    assert "literal-value-4411" not in err


def test_dry_run_from_environment_and_cwd_and_overrides(
    project: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLAUDE_BOTTLE_DRY_RUN", "1")
    monkeypatch.setenv("CLAUDE_BOTTLE_IMAGE", "my/image:1")
    monkeypatch.setenv("CLAUDE_BOTTLE_CONTAINER", "pinned-box")
    monkeypatch.setenv("CLAUDE_BOTTLE_OAUTH_TOKEN", SECRET)
    monkeypatch.setenv("CLAUDE_BOTTLE_CONTAINER_HOME", "/home/agent")
    bottle = json.loads((project / "claude-bottle.json").read_text())
    bottle["bottles"]["dev"]["runtime"] = "runsc"
    (project / "claude-bottle.json").write_text(json.dumps(bottle))
    assert main(["start", "reviewer", "--cwd", "--remote-control"]) == 0
    err = capsys.readouterr().err
    assert "image            : my/image:1" in err
    assert f"cwd              : {project} -> /home/agent/workspace" in err
    assert "container        : pinned-box (pinned by CLAUDE_BOTTLE_CONTAINER)" in err
    assert "env (names only) : GITHUB_TOKEN, MODE, CLAUDE_CODE_OAUTH_TOKEN" in err
    assert "  runtime        : runsc (gVisor)" in err
    assert "remote-control   : enabled" in err
    assert SECRET not in err


def test_json_plan(project: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["start", "reviewer", "--dry-run", "--json"]) == 0
    out = capsys.readouterr().out
    plan = json.loads(out)
    assert plan["agent"] == "reviewer"
    assert plan["env"] == [
        {"name": "GITHUB_TOKEN", "from": "host $GH_TOKEN"},
        {"name": "MODE", "from": "manifest"},
    ]
    assert plan["bottle"]["egress"]["allow"] == ["api.anthropic.com", "*.github.com"]
    assert plan["prompt"] == {"chars": 25, "first_line": "You review pull requests."}
    assert SECRET not in out
    assert '"review"' not in out


def test_missing_required_env_stops_before_anything(
    project: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("GH_TOKEN")
    assert main(["start", "reviewer", "--dry-run"]) == 2
    assert (
        "agents.reviewer.env.GITHUB_TOKEN: needs $GH_TOKEN from your environment" in capsys.readouterr().err
    )


def test_unknown_agent(project: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["start", "nobody", "--dry-run"]) == 2
    assert "agents: no agent named 'nobody' (agents: reviewer)" in capsys.readouterr().err


def test_plan_holds_no_secret_value(project: Path, env: dict[str, str]) -> None:
    plan = build_plan(load_here(project), Options("reviewer"), env, "abcd1234", frozenset())
    assert plan.env == (
        EnvVar("GITHUB_TOKEN", host_var="GH_TOKEN"),
        EnvVar("MODE", literal="review"),
    )
    assert SECRET not in repr(plan)


def test_exec_argv(project: Path, env: dict[str, str]) -> None:
    m = load_here(project)
    plan = build_plan(m, Options("reviewer", remote_control=True), env, "s", frozenset())
    assert plan.exec_argv() == (
        "claude",
        "--dangerously-skip-permissions",
        "--remote-control",
        "--append-system-prompt-file",
        "/home/node/.claude-bottle-prompt.txt",
    )
    headless = build_plan(m, Options("reviewer", interactive=False), env, "s", frozenset())
    assert headless.exec_argv()[-1] == "-p"
    cmd = build_plan(m, Options("reviewer", command=("git", "status")), env, "s", frozenset())
    assert cmd.exec_argv() == ("git", "status")


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        pytest.param(set(), "claude-bottle-rev", id="free"),
        pytest.param({"claude-bottle-rev"}, "claude-bottle-rev-2", id="second"),
        pytest.param({"claude-bottle-rev", "claude-bottle-rev-2"}, "claude-bottle-rev-3", id="third"),
    ],
)
def test_container_names(taken: set[str], expected: str) -> None:
    assert choose_container_name("rev", frozenset(taken), None) == expected


def test_container_names_run_out() -> None:
    taken = frozenset({"claude-bottle-x"} | {f"claude-bottle-x-{n}" for n in range(2, 100)})
    with pytest.raises(UsageError, match="could not find a free container name after claude-bottle-x-99"):
        choose_container_name("x", taken, None)
    assert next_container_name("claude-bottle-x-98", "x") == "claude-bottle-x-99"
    assert next_container_name("claude-bottle-x-99", "x") is None


def test_pinned_container_taken() -> None:
    with pytest.raises(
        UsageError, match=r"container 'box' already exists \(pinned via CLAUDE_BOTTLE_CONTAINER\)"
    ):
        choose_container_name("x", frozenset({"box"}), "box")


@pytest.mark.parametrize(
    ("name", "slug"), [("Reviewer", "reviewer"), ("my agent!", "my-agent"), ("--", "agent")]
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


@pytest.mark.parametrize(
    ("host", "pattern", "allowed"),
    [
        ("example.com", "*.example.com", True),
        ("a.b.example.com", "*.example.com", True),
        ("evilexample.com", "*.example.com", False),
        ("example.com.evil.test", "*.example.com", False),
        ("ALLOWED.TEST.", "allowed.test", True),
        ("sub.allowed.test", "allowed.test", False),
    ],
)
def test_host_matching(host: str, pattern: str, allowed: bool) -> None:
    assert host_matches(host, pattern) is allowed


@pytest.mark.parametrize("entry", ["example.com", "*.example.com", "Example.COM", "localhost", "x-1.test"])
def test_valid_host_patterns(entry: str) -> None:
    assert host_pattern_problem(entry) is None


@pytest.mark.parametrize("entry", ["", " a.com", "a.*.com", "-a.com", "a..com", "*", "a.com/x", "user@a.com"])
def test_invalid_host_patterns(entry: str) -> None:
    assert host_pattern_problem(entry) is not None


KUBECONFIG = """apiVersion: v1
kind: Config
current-context: lab
contexts:
- name: lab
  context: {cluster: lab, user: lab, namespace: bottles}
- name: other
  context: {cluster: lab, user: lab}
clusters:
- name: lab
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: lab
  user: {token: not-a-real-token}
"""


@pytest.mark.parametrize(
    ("settings", "context", "namespace"),
    [
        pytest.param({}, "lab", "bottles", id="the-kubeconfig's-current-context"),
        pytest.param({"CLAUDE_BOTTLE_K8S_CONTEXT": "other", "CLAUDE_BOTTLE_K8S_NAMESPACE": "ns2"},
                     "other", "ns2", id="named-by-settings"),
    ],
)  # fmt: skip
def test_a_kubernetes_dry_run_names_kubernetes_its_context_and_namespace(
    project: Path,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: dict[str, str],
    context: str,
    namespace: str,
) -> None:
    # The cluster does not answer (nothing listens on port 1): the plan still says where it would run.
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv("CLAUDE_BOTTLE_ENGINE", "kubernetes")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert main(["start", "reviewer", "--dry-run"]) == 0
    err = capsys.readouterr().err
    shown = f"runs on          : Kubernetes, context {context}, namespace {namespace} (API server https://127.0.0.1:1)"
    assert shown in err
    assert "Docker" not in err
    assert "claude-bottle-egress (NetworkPolicies: the sidecars' way out" in err
    assert main(["start", "reviewer", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["engine"] == {"name": "kubernetes", "context": context, "endpoint": "https://127.0.0.1:1",
                              "namespace": namespace}  # fmt: skip
    assert (plan["image"], plan["sidecar_image"]) == ("claude-bottle:latest", "claude-bottle-squid:latest")


@pytest.mark.parametrize(
    ("environ", "shown", "engine"),
    [
        pytest.param({"DOCKER_HOST": "ssh://me@build-host"}, "Docker, endpoint ssh://me@build-host",
                     {"name": "docker", "context": "", "endpoint": "ssh://me@build-host"}, id="DOCKER_HOST"),
        pytest.param({"DOCKER_CONTEXT": "build-host"},
                     "Docker, endpoint the docker CLI's current endpoint (context build-host)",
                     {"name": "docker", "context": "build-host", "endpoint": ""}, id="DOCKER_CONTEXT"),
    ],
)  # fmt: skip
def test_a_docker_dry_run_names_its_endpoint_or_context(
    project: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environ: dict[str, str],
    shown: str,
    engine: dict[str, str],
) -> None:
    # No docker CLI here (CLAUDE_BOTTLE_DOCKER names none): what is known without it.
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["start", "reviewer", "--dry-run"]) == 0
    assert f"runs on          : {shown}\n" in capsys.readouterr().err
    assert main(["start", "reviewer", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["engine"] == engine


@pytest.mark.parametrize(
    ("base_url", "plain"),
    [
        pytest.param("http://gw.test:4000", ("gw.test",), id="http"),
        pytest.param("HTTP://GW.test/", ("gw.test",), id="upper-case"),
        pytest.param("https://gw.test", (), id="https"),
    ],
)
def test_the_plan_names_a_plain_http_model_endpoint(
    tmp_path: Path, base_url: str, plain: tuple[str, ...]
) -> None:
    data = {
        "bottles": {"b": {"egress": {"allow": ["gw.test"], "proxy": "pipelock"}}},
        "agents": {"a": {"bottle": "b", "env": {"ANTHROPIC_BASE_URL": base_url}}},
    }
    plan = build_plan(parse_manifest(data, "m", tmp_path), Options("a"), {}, "s1", frozenset())
    assert plan.proxy_spec().credential_hosts == ("gw.test",)
    assert plan.proxy_spec().plain_credential_hosts == plain
    assert (plan.proxy.refusal(plan.proxy_spec()) is not None) == bool(plain)
