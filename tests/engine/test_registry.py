"""`build --push` against a real registry: Debian's docker-registry (the CNCF
distribution registry) in a container of the engine's own, published on a
free loopback port only (Docker allows plain HTTP to a registry on
127.0.0.0/8 without any daemon setting). No other registry is reached.

The lab registry image is kept as a cache, like the sidecar lab's images;
the registry container, and every name the test gave an image, are removed."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.plan.images import (
    NO_CA_DIGEST,
    agent_image_build,
    registry_name,
    squid_image_build,
)
from claude_bottle.plan.plan import DEFAULT_IMAGE
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from claude_bottle.settings import Settings
from claude_bottle.tracking import labels
from tests.conftest import wait_for
from tests.engine.conftest import cli, lab_plan

REGISTRY_IMAGE = "claude-bottle-test/registry:1"
LAB_LABEL = "dev.claude-bottle-test.registry=1"
# Debian's configuration asks for an htpasswd file it does not ship: replaced
# by one without authentication, storing in the container's own layer.
REGISTRY_DOCKERFILE = """\
FROM debian:bookworm-slim
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry \\
 && rm -rf /var/lib/apt/lists/* \\
 && printf '%s\\n' 'version: 0.1' 'storage:' '  filesystem:' '    rootdirectory: /var/lib/docker-registry' \\
      'http:' '  addr: :5000' >/etc/docker/registry/config.yml
EXPOSE 5000
ENTRYPOINT ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]
"""
PREFIX = "test"

pytestmark = pytest.mark.engine


def _registry_image(engine: DockerEngine) -> str:
    if not engine.ok("image", "inspect", REGISTRY_IMAGE):
        result = engine.run("build", "-q", "--label", LAB_LABEL, "-t", REGISTRY_IMAGE, "-",
                            stdin=REGISTRY_DOCKERFILE.encode(), check=False)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    return REGISTRY_IMAGE


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
        return json.loads(response.read() or b"{}")


def _answers(url: str) -> bool:
    try:
        _get(url)
    except (OSError, urllib.error.URLError):
        return False
    return True


@pytest.fixture
def lab_registry(engine: DockerEngine) -> Iterator[str]:
    """REGISTRY/PREFIX of a registry container on 127.0.0.1:<free port>, removed after."""
    image = _registry_image(engine)
    container = engine.run("run", "-d", "--label", LAB_LABEL, "-p", "127.0.0.1::5000", image).stdout.strip()
    try:
        address = engine.run("port", container, "5000/tcp").stdout.split()[0]  # 127.0.0.1:PORT
        assert address.startswith("127.0.0.1:"), address
        wait_for(lambda: _answers(f"http://{address}/v2/"), 20, "the lab registry to answer")
        yield f"{address}/{PREFIX}"
    finally:
        engine.run("rm", "-f", "-v", container, check=False)
        assert not engine.ok("container", "inspect", container)


def _image_id(engine: DockerEngine, ref: str) -> str:
    return engine.run("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def test_build_push_puts_both_images_in_the_registry(
    engine: DockerEngine, agent_image: str, lab_registry: str, tmp_path: Path
) -> None:
    address = lab_registry.split("/")[0]
    agent = engine.image_labels(agent_image, labels.IMAGE_HASH, labels.IMAGE_CA_HASH)
    squid = engine.image_labels(SQUID_IMAGE, labels.IMAGE_HASH, labels.IMAGE_CA_HASH)
    assert agent is not None, f"{agent_image} is missing: run 'claude-bottle build'"
    assert squid is not None, f"{SQUID_IMAGE} is missing: run 'claude-bottle build'"
    expected = [
        registry_name(lab_registry, "claude-bottle", *agent),
        registry_name(lab_registry, "claude-bottle-squid", *squid),
    ]

    started = time.monotonic()
    # The local images are up to date (scripts/test.sh builds them), so this pushes only.
    # No CA named: a launch would then ask for the plain content id.
    result = cli(
        "build", "--push", lab_registry, cwd=tmp_path, env={"CLAUDE_BOTTLE_EXTRA_CA": ""}, timeout=900
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected
    # An agent image that trusts a CA (scripts/test.sh builds it with one) is
    # pushed under a tag with the CA's digest, and build says a launch needs it named.
    trusts_a_ca = agent[1] != NO_CA_DIGEST
    assert expected[0].endswith(f":{agent[0]}-ca{agent[1][:8]}" if trusts_a_ca else f":{agent[0]}")
    assert ("note: a Kubernetes launch asks for" in result.stderr) == trusts_a_ca, result.stderr
    print(f"build --push took {took:.1f}s")

    try:
        # The registry itself lists both repositories and their content-id tags.
        catalog = _get(f"http://{address}/v2/_catalog")["repositories"]
        assert sorted(catalog) == [f"{PREFIX}/claude-bottle", f"{PREFIX}/claude-bottle-squid"]
        for name in expected:
            repository, _, tag = name.removeprefix(f"{address}/").rpartition(":")
            assert _get(f"http://{address}/v2/{repository}/tags/list") == {"name": repository, "tags": [tag]}

        # The registry's names were only lent to the images for the push.
        assert [ref for ref in expected if engine.ok("image", "inspect", ref)] == []
        # Pulled back, each is the very image the engine built.
        for local, name in zip((agent_image, SQUID_IMAGE), expected, strict=True):
            pulled = engine.run("pull", "-q", name, check=False)
            assert pulled.returncode == 0, pulled.stderr
            assert _image_id(engine, name) == _image_id(engine, local)
    finally:
        for name in expected:
            engine.untag_image(name)
    assert [ref for ref in expected if engine.ok("image", "inspect", ref)] == []
    # The images the engine runs locally keep their names.
    assert engine.ok("image", "inspect", agent_image)
    assert engine.ok("image", "inspect", SQUID_IMAGE)


HOST_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def test_a_kubernetes_plan_names_what_build_push_pushes(
    engine: DockerEngine, agent_image: str, tmp_path: Path
) -> None:
    """Without pushing: the plan's names are the ones `build --push` derives
    from the engine's images (the agent's CA digest comes from its label)."""
    registry = "127.0.0.1:5000/test"  # never contacted
    manifest = {
        "bottles": {"dev": {"egress": {"allow": ["api.anthropic.com"]}}},
        "agents": {"a": {"bottle": "dev"}},
    }
    squid = engine.image_labels(SQUID_IMAGE, labels.IMAGE_HASH, labels.IMAGE_CA_HASH)
    assert squid is not None
    agent = engine.image_labels(agent_image, labels.IMAGE_HASH, labels.IMAGE_CA_HASH)
    assert agent is not None
    environ = {"CLAUDE_BOTTLE_ENGINE": "kubernetes", "CLAUDE_BOTTLE_REGISTRY": registry}
    if squid[1]:  # built with the host's bundle as its extra CA (scripts/test.sh): the plan is told the same
        environ["CLAUDE_BOTTLE_EXTRA_CA"] = HOST_BUNDLE
    plan = lab_plan(tmp_path, manifest, "a", environ)
    assert plan.sidecar_image == registry_name(registry, "claude-bottle-squid", *squid)
    assert squid[0] == squid_image_build(SQUID_IMAGE).digest
    assert agent[0] == agent_image_build(DEFAULT_IMAGE, settings=Settings()).digest
    assert plan.image == registry_name(registry, "claude-bottle", *agent)
