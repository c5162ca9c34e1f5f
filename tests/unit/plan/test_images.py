"""Images in a registry (pure): what REGISTRY[/PREFIX] may be, the content-id
tag, and which image a plan runs with CLAUDE_BOTTLE_REGISTRY set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from claude_bottle.cli.commands.build import chosen_registry
from claude_bottle.errors import UsageError
from claude_bottle.plan.images import (
    NO_CA_DIGEST,
    agent_image_build,
    check_registry,
    registry_name,
    registry_tag,
    squid_image_build,
)
from claude_bottle.plan.plan import LaunchPlan, Options, build_plan
from claude_bottle.plan.render import plan_json, render_plan
from claude_bottle.settings import Settings
from tests.host import load_here

AGENT = agent_image_build("claude-bottle:latest", settings=Settings())
SQUID = squid_image_build("claude-bottle-squid:latest")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("registry.example", "registry.example", id="host"),
        pytest.param("registry.example/team/", "registry.example/team", id="prefix-trailing-slash"),
        pytest.param("registry.example:5000/a/b-c/d_e", "registry.example:5000/a/b-c/d_e", id="port-deep"),
        pytest.param("127.0.0.1:5000/test", "127.0.0.1:5000/test", id="loopback"),
        pytest.param("localhost/x", "localhost/x", id="localhost"),
        pytest.param("[::1]:5000", "[::1]:5000", id="ipv6"),
        pytest.param("Registry.Example/team", "Registry.Example/team", id="host-any-case"),
    ],
)
def test_registries_accepted(given: str, expected: str) -> None:
    assert check_registry(given) == expected


HOST_FIRST = "it must start with the registry's host (with a dot or a port, or localhost)"
PATH_RULE = "its path must be lower-case names separated by '/', without a tag"


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        pytest.param("team", HOST_FIRST, id="a-docker-hub-user-is-no-host"),
        pytest.param("", HOST_FIRST, id="empty"),
        pytest.param("-bad.example", HOST_FIRST, id="bad-host"),
        pytest.param("registry.example:port", HOST_FIRST, id="port-not-a-number"),
        pytest.param("http://registry.example", "give the registry's host without a scheme", id="scheme"),
        pytest.param("registry.example/Team", PATH_RULE, id="upper-case-path"),
        pytest.param("registry.example/team:1", PATH_RULE, id="a-tag"),
        pytest.param("registry.example/a//b", PATH_RULE, id="empty-component"),
        pytest.param("registry.example/a b", PATH_RULE, id="space"),
    ],
)
def test_registries_refused(given: str, problem: str) -> None:
    with pytest.raises(UsageError) as err:
        check_registry(given)
    form = "REGISTRY[/PREFIX] (e.g. registry.example/team)"
    assert str(err.value) == f"CLAUDE_BOTTLE_REGISTRY: '{given}' is not {form}: {problem}"


def test_the_tag_is_the_content_id_and_the_cas() -> None:
    assert registry_tag("d972d66e6711b1e0", NO_CA_DIGEST) == "d972d66e6711b1e0"
    assert registry_tag("d972d66e6711b1e0", "") == "d972d66e6711b1e0"  # an image without the label
    assert registry_tag("d972d66e6711b1e0", "0123456789abcdef") == "d972d66e6711b1e0-ca01234567"
    assert registry_name("127.0.0.1:5000/t", "claude-bottle", "d972d66e6711b1e0", NO_CA_DIGEST) == (
        "127.0.0.1:5000/t/claude-bottle:d972d66e6711b1e0"
    )


def test_the_builds_have_their_registry_repositories() -> None:
    assert (AGENT.repository, SQUID.repository) == ("claude-bottle", "claude-bottle-squid")
    assert AGENT.digest != SQUID.digest


# --- which image a plan runs ------------------------------------------------------------


def plan_with(project: Path, environ: dict[str, str], proxy: str | None = None) -> LaunchPlan:
    if proxy:
        data = json.loads((project / "claude-bottle.json").read_text())
        data["bottles"]["dev"]["egress"]["proxy"] = proxy
        (project / "claude-bottle.json").write_text(json.dumps(data))
    environ = {"GH_TOKEN": "x", **environ}
    return build_plan(load_here(project), Options("reviewer"), environ, "s", frozenset(),
                      settings=Settings.from_environ(environ))  # fmt: skip


K8S = {"CLAUDE_BOTTLE_ENGINE": "kubernetes", "CLAUDE_BOTTLE_REGISTRY": "registry.example/team/"}


def test_kubernetes_with_a_registry_runs_the_registrys_images(project: Path) -> None:
    plan = plan_with(project, K8S)
    assert plan.image == f"registry.example/team/claude-bottle:{AGENT.digest}"
    assert plan.sidecar_image == f"registry.example/team/claude-bottle-squid:{SQUID.digest}"
    assert plan.notes == ()
    assert f"image            : registry.example/team/claude-bottle:{AGENT.digest}" in render_plan(plan)
    assert plan_json(plan)["sidecar_image"] == plan.sidecar_image


def test_without_a_registry_the_local_names(project: Path) -> None:
    plan = plan_with(project, {"CLAUDE_BOTTLE_ENGINE": "kubernetes"})
    assert (plan.image, plan.sidecar_image) == ("claude-bottle:latest", "claude-bottle-squid:latest")


def test_the_docker_engine_runs_its_own_images_and_says_so(project: Path) -> None:
    plan = plan_with(project, {"CLAUDE_BOTTLE_REGISTRY": "registry.example/team"})
    assert (plan.image, plan.sidecar_image) == ("claude-bottle:latest", "claude-bottle-squid:latest")
    assert plan.notes == ("CLAUDE_BOTTLE_REGISTRY is not used: the Docker engine runs the images it builds",)


def test_images_the_user_named_still_win(project: Path) -> None:
    named = {"CLAUDE_BOTTLE_IMAGE": "mine:1", "CLAUDE_BOTTLE_SIDECAR_IMAGE": "proxy:2"}
    plan = plan_with(project, {**K8S, **named})
    assert (plan.image, plan.sidecar_image) == ("mine:1", "proxy:2")


def test_a_sidecar_image_not_ours_is_not_renamed(project: Path) -> None:
    plan = plan_with(project, K8S, proxy="pipelock")
    assert plan.image.startswith("registry.example/team/claude-bottle:")
    assert not plan.sidecar_image.startswith("registry.example/")


def test_an_extra_ca_is_part_of_both_images_tags(project: Path) -> None:
    pem = project / "ca.pem"
    pem.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n")
    plan = plan_with(project, {**K8S, "CLAUDE_BOTTLE_EXTRA_CA": str(pem)})
    ca = hashlib.sha256(pem.read_bytes()).hexdigest()[:8]
    assert plan.image == f"registry.example/team/claude-bottle:{AGENT.digest}-ca{ca}"
    # The sidecar trusts it too: it opens TLS itself to the hosts whose credential it adds.
    assert plan.sidecar_image == f"registry.example/team/claude-bottle-squid:{SQUID.digest}-ca{ca}"


def test_a_bad_registry_stops_a_kubernetes_plan(project: Path) -> None:
    with pytest.raises(UsageError, match=r"^CLAUDE_BOTTLE_REGISTRY: 'team' is not REGISTRY\["):
        plan_with(project, {**K8S, "CLAUDE_BOTTLE_REGISTRY": "team"})


# --- build --push: where it pushes ------------------------------------------------------


def test_push_without_a_value_takes_the_setting() -> None:
    assert chosen_registry(None, Settings(registry="registry.example")) is None  # no --push: no push
    assert chosen_registry("", Settings(registry="registry.example/a/")) == "registry.example/a"
    assert chosen_registry("127.0.0.1:5000/b", Settings(registry="registry.example")) == "127.0.0.1:5000/b"


def test_push_needs_a_registry() -> None:
    with pytest.raises(UsageError) as err:
        chosen_registry("", Settings())
    needs = "--push needs a registry: --push REGISTRY[/PREFIX], or set CLAUDE_BOTTLE_REGISTRY"
    assert str(err.value) == needs
    with pytest.raises(UsageError, match=r"^--push: 'http://x\.example' is not REGISTRY\["):
        chosen_registry("http://x.example", Settings())
