from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from claude_bottle.cli.main import main
from claude_bottle.errors import ManifestError
from claude_bottle.manifest.defaults import DEFAULT_MANIFEST, STARTER_MANIFEST
from claude_bottle.manifest.locate import BUILTIN_SOURCE
from claude_bottle.manifest.model import EnvVar
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.manifest.schema import manifest_schema
from tests.conftest import REVIEWER_MANIFEST
from tests.host import load_here


def edited(**changes: Any) -> dict[str, Any]:
    """The reviewer manifest with dotted-path edits; a value of ... deletes the key."""
    data = copy.deepcopy(REVIEWER_MANIFEST)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for key in parents:
            node = node[key]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return data


BAD_MANIFESTS = [
    pytest.param(
        edited(agents__reviewer__colour="blue"),
        "agents.reviewer.colour: unknown key",
        id="unknown-key",
    ),
    pytest.param(
        edited(agents__reviewer__prompt=3),
        "agents.reviewer.prompt: expected a string, got number",
        id="wrong-type",
    ),
    pytest.param(
        edited(agents__reviewer__bottle=...),
        "agents.reviewer: missing 'bottle'",
        id="missing-bottle",
    ),
    pytest.param(
        edited(agents__reviewer__bottle="prod"),
        "agents.reviewer.bottle: no bottle named 'prod' (bottles: dev)",
        id="bottle-does-not-exist",
    ),
    pytest.param(
        edited(bottles__dev__runtime="kata"),
        'bottles.dev.runtime: expected "runc" or "runsc" (gVisor), got \'kata\'',
        id="bad-runtime",
    ),
    pytest.param(
        edited(bottles__dev__egress={"allow": []}),
        "bottles.dev.egress.allow: is empty",
        id="empty-allowlist",
    ),
    pytest.param(
        edited(bottles__dev__egress={"allow": ["api.anthropic.com", ""]}),
        "bottles.dev.egress.allow[1]: expected a host name like 'example.com' or '*.example.com', "
        "got '' (an empty host name)",
        id="empty-allow-entry",
    ),
    pytest.param(
        edited(bottles__dev__egress={"allow": ["https://github.com/x"]}),
        "bottles.dev.egress.allow[0]: expected a host name like 'example.com' or '*.example.com', "
        "got 'https://github.com/x' (a URL scheme",
        id="malformed-allow-entry",
    ),
    pytest.param(
        edited(bottles__dev__egress={"allow": ["github.com:22"]}),
        "got 'github.com:22' (a port",
        id="allow-entry-with-port",
    ),
    pytest.param(
        edited(bottles__dev__egress={"allow": ["*"]}),
        "(a bare '*' (that would allow every host))",
        id="allow-everything",
    ),
    pytest.param(
        edited(agents__reviewer__skills=["code-review", "nope"]),
        "agents.reviewer.skills[1]: skill 'nope' not found",
        id="skill-not-found",
    ),
    pytest.param(
        edited(agents__reviewer__ssh=[{"Host": "gitlab.com"}]),
        "agents.reviewer.ssh[0].Host: ssh host 'gitlab.com' is not allowed by bottle 'dev' egress",
        id="ssh-host-not-allowed",
    ),
    pytest.param(
        edited(agents__reviewer__ssh=[{"Host": "gh", "HostName": "evil.test"}]),
        "agents.reviewer.ssh[0].HostName: ssh host 'evil.test' is not allowed",
        id="ssh-hostname-not-allowed",
    ),
    pytest.param(
        edited(agents__reviewer__ssh=[{"User": "git"}]),
        "agents.reviewer.ssh[0]: missing 'Host'",
        id="ssh-without-host",
    ),
    pytest.param(
        edited(agents__reviewer__ssh=[{"Host": "github.com", "Port": 70000}]),
        "agents.reviewer.ssh[0].Port: expected a port number 1-65535, got 70000",
        id="ssh-bad-port",
    ),
    pytest.param(
        edited(agents__reviewer__env={"X": {"from_env": "Y", "optinal": True}}),
        "agents.reviewer.env.X.optinal: unknown key",
        id="env-typo",
    ),
    pytest.param(
        edited(agents__reviewer__env={"HTTPS_PROXY": "x"}),
        "agents.reviewer.env.HTTPS_PROXY: 'HTTPS_PROXY' is set by claude-bottle",
        id="env-reserved",
    ),
    pytest.param(
        edited(agents__reviewer__env=["BAD-NAME"]),
        "agents.reviewer.env[0]: 'BAD-NAME' is not a valid environment variable name",
        id="env-bad-name",
    ),
    pytest.param(
        edited(agents__reviewer__prompt_file="p.txt"),
        "agents.reviewer.prompt_file: give either 'prompt' or 'prompt_file', not both",
        id="prompt-and-prompt-file",
    ),
    pytest.param(
        edited(agents__reviewer__prompt=..., agents__reviewer__prompt_file="missing.txt"),
        "agents.reviewer.prompt_file: cannot read",
        id="prompt-file-missing",
    ),
    pytest.param(
        edited(bottles__dev__limits={"pids": 10}),
        "bottles.dev.limits.pids: expected a whole number from 64 to 4194304, got 10",
        id="limits-pids",
    ),
    pytest.param(
        edited(bottles__dev__limits={"disk": "100m"}),
        'bottles.dev.limits.disk: expected a size from "1g" to "1048576g", got \'100m\'',
        id="limits-disk",
    ),
    pytest.param(
        edited(agents__reviewer__env={"DOCKER_HOST": "tcp://127.0.0.1:2375"}),
        "agents.reviewer.env.DOCKER_HOST: 'DOCKER_HOST' is refused: the docker client reads DOCKER_*, "
        "BUILDKIT_* and BUILDX_*",
        id="env-steers-the-docker-client",
    ),
    pytest.param(
        edited(bottles__dev__egress={"allow": ["a.test"], "dlp": "maybe"}),
        'bottles.dev.egress.dlp: expected "block", "warn" or "off", got \'maybe\'',
        id="dlp-mode",
    ),
    pytest.param(
        {"bottles": [], "agents": {}},
        "bottles: expected an object, got array",
        id="bottles-not-object",
    ),
    pytest.param("[1, 2", "invalid JSON at line 1, column 6", id="invalid-json"),
    pytest.param(
        '{\n  "agents": {},\n  "agents": {}\n}',
        "invalid JSON: duplicate key 'agents'",
        id="duplicate-key",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_MANIFESTS)
def test_bad_manifest_is_one_clear_message_and_exit_2(
    data: Any,
    message: str,
    write_manifest: Callable[[Any], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_manifest(data)
    status = main(["validate"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"claude-bottle: {path}: ")
    assert message in err
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_the_issue_example_validates(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "reviewer: bottle dev; 2 env, 1 skills, 1 ssh hosts" in out
    assert "dev: runtime runc; egress api.anthropic.com, *.github.com" in out


def test_sni_is_checked_unless_the_manifest_says_false(project: Path) -> None:
    bottle = parse_manifest(edited(), "m", project).bottles["dev"]
    assert bottle.egress.sni is True
    off = parse_manifest(edited(bottles__dev__egress__sni=False), "m", project).bottles["dev"]
    assert off.egress.sni is False
    assert (
        manifest_schema()["properties"]["bottles"]["additionalProperties"]["properties"]["egress"][
            "properties"
        ]["sni"]["default"]
        is True
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param(
            {"Host": "github.com", "Port": 80},
            "agents.reviewer.ssh[0].Port: 80 is plain HTTP's port: the proxy opens no tunnel to it",
            id="ssh-port-80",
        ),
    ],
)
def test_an_ssh_entry_on_port_80_is_refused(project: Path, entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError) as refused:
        parse_manifest(edited(agents__reviewer__ssh=[entry]), "m", project)
    assert str(refused.value) == f"m: {message}"


def test_env_list_and_object_forms(project: Path) -> None:
    data = edited(agents__reviewer__env=["A", "B"])
    m = parse_manifest(data, "m.json", project)
    assert m.agents["reviewer"].env == (EnvVar("A", host_var="A"), EnvVar("B", host_var="B"))
    data = edited(agents__reviewer__env={"A": "lit", "B": {"from_env": "C", "optional": True}})
    m = parse_manifest(data, "m.json", project)
    assert m.agents["reviewer"].env == (
        EnvVar("A", literal="lit"),
        EnvVar("B", host_var="C", optional=True),
    )


def test_prompt_file_is_relative_to_the_manifest(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "prompts").mkdir()
    (project / "prompts" / "r.md").write_text("Be kind.\nAnd thorough.\n")
    data = edited(agents__reviewer__prompt=..., agents__reviewer__prompt_file="prompts/r.md")
    (project / "claude-bottle.json").write_text(json.dumps(data))
    sub = project / "deep" / "er"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    m = load_here(sub)
    assert m.agents["reviewer"].prompt == "Be kind.\nAnd thorough.\n"
    assert m.source == str(project / "claude-bottle.json")


def test_wildcard_ssh_host_allowed_by_apex_pattern(project: Path) -> None:
    data = edited(agents__reviewer__ssh=[{"Host": "gh", "HostName": "github.com"}])
    assert parse_manifest(data, "m", project).agents["reviewer"].ssh[0].target == "github.com"


def test_resolution_order(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    explicit = elsewhere / "x.json"
    explicit.write_text(json.dumps(DEFAULT_MANIFEST))
    assert load_here(project).source == str(project / "claude-bottle.json")
    monkeypatch.setenv("CLAUDE_BOTTLE_MANIFEST", str(explicit))
    assert load_here(project).source == str(explicit)
    other = elsewhere / "y.json"
    other.write_text(json.dumps(DEFAULT_MANIFEST))
    assert load_here(project, str(other)).source == str(other)
    monkeypatch.delenv("CLAUDE_BOTTLE_MANIFEST")
    # No file upwards: the user's config, then the built-in default.
    lonely = tmp_path_factory.mktemp("lonely")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(elsewhere / "cfg"))
    assert load_here(lonely).source == BUILTIN_SOURCE
    (elsewhere / "cfg" / "claude-bottle").mkdir(parents=True)
    (elsewhere / "cfg" / "claude-bottle" / "claude-bottle.json").write_text(json.dumps(DEFAULT_MANIFEST))
    assert load_here(lonely).source == str(elsewhere / "cfg" / "claude-bottle" / "claude-bottle.json")


def test_missing_explicit_manifest(project: Path) -> None:
    with pytest.raises(ManifestError, match=r"no such file \(named by --manifest\)"):
        load_here(project, "nope.json")


def test_builtin_default_has_claude_agent(tmp_path: Path) -> None:
    m = parse_manifest(DEFAULT_MANIFEST, BUILTIN_SOURCE, tmp_path)
    assert m.agents["claude"].bottle == "default"
    assert "api.anthropic.com" in m.bottles["default"].egress.allow


@pytest.mark.parametrize(
    "data",
    [DEFAULT_MANIFEST, STARTER_MANIFEST, REVIEWER_MANIFEST],
    ids=["default", "starter", "reviewer"],
)
def test_schema_accepts_good_manifests(data: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(manifest_schema()).validate(data)


@pytest.mark.parametrize(
    "data",
    [
        p.values[0]
        for p in BAD_MANIFESTS
        if isinstance(p.values[0], dict)
        and p.id
        not in (
            # semantic checks only the tool can make (files, cross-references, reserved names)
            "skill-not-found",
            "ssh-host-not-allowed",
            "ssh-hostname-not-allowed",
            "bottle-does-not-exist",
            "env-reserved",
            "prompt-file-missing",
            "empty-allowlist",
            "allow-everything",
            "limits-disk",  # a size's bounds, as memory's
        )
    ],
)
def test_schema_refuses_what_the_validator_refuses(data: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(manifest_schema()).validate(data)


def test_schema_command_prints_valid_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["$schema"] == {"type": "string"}


def test_init_writes_starter_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert json.loads((tmp_path / "claude-bottle.json").read_text()) == STARTER_MANIFEST
    assert main(["validate"]) == 0
    capsys.readouterr()
    assert main(["init"]) == 2
    assert "claude-bottle.json already exists; not overwriting it" in capsys.readouterr().err
