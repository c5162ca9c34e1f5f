"""Squid's rules on the real binary, where a bottle cannot arrange the case:
the generated configurations are accepted whole, a name in `egress.internal`
that resolves to the metadata address stays refused, and a refused name is
never looked up. A standalone sidecar (the product's image and renderer) on the
lab network, with the lab's DNS server as its resolver and names pinned in its
hosts file; the clients are lab containers."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle.bottle.sidecar import LIMITS
from claude_bottle.engine.api import ContainerSpec
from claude_bottle.engine.docker import DockerEngine, container_args
from claude_bottle.proxies.base import ProxySpec
from claude_bottle.proxies.squid import CONFIG_ENV, IMAGE, SquidBackend, render_squid_config
from tests.conftest import wait_for
from tests.sidecar.conftest import LAB_LABEL, Lab

GOLDEN = Path(__file__).parents[1] / "unit" / "golden"


def squid_shape_args() -> tuple[str, ...]:
    """Squid's own needs of its container (a read-only root, its tmpfs), as the
    Docker engine translates them for the sidecar."""
    shape = SquidBackend().shape()
    spec = ContainerSpec("squid", IMAGE, "lab", {}, LIMITS, read_only=shape.read_only, tmpfs=shape.tmpfs)
    args = container_args(spec)
    return args[args.index("--read-only") : args.index(IMAGE)]


def test_every_generated_configuration_is_accepted_whole(engine: DockerEngine, lab: Lab) -> None:
    goldens = sorted(GOLDEN.glob("squid-*.conf"))
    assert len(goldens) >= 4
    for golden in goldens:
        out = engine.run(
            "run", "--rm", "--env", "CONF", "--entrypoint", "sh", IMAGE, "-c",
            'printf "%s\\n" "$CONF" > /tmp/c && squid -k parse -f /tmp/c 2>&1; echo "status=$?"',
            env={"CONF": golden.read_text()},
        ).stdout  # fmt: skip
        assert "status=0" in out, golden.name
        assert "Processing: http_access deny all why_host" in out, golden.name  # parsed to the end
        problems = [
            line for line in out.splitlines() if any(w in line for w in ("ERROR", "FATAL", "Bungled"))
        ]
        assert problems == [], golden.name


def test_the_entrypoint_refuses_a_configuration_squid_would_half_accept(
    engine: DockerEngine, lab: Lab
) -> None:
    broken = render_squid_config(ProxySpec(allow=("a.test",))) + "acl bad dstdomain -n b.test .b.test\n"
    result = engine.run("run", "--rm", "--env", CONFIG_ENV, *squid_shape_args(), IMAGE,
                        env={CONFIG_ENV: broken}, check=False)  # fmt: skip
    assert result.returncode == 65
    assert "refusing to start" in result.stderr


@pytest.fixture
def squid(engine: DockerEngine, lab: Lab) -> Iterator[tuple[str, DockerEngine]]:
    spec = ProxySpec(allow=("*.resolve.test",), internal=("internal-ok.test", "internal-meta.test"))
    config = render_squid_config(spec) + f"dns_nameservers {lab.dns_ip}\n"
    name = f"lab-squid-{secrets.token_hex(3)}"
    engine.run(
        "run", "-d", "--name", name, "--label", f"{LAB_LABEL}=1", "--network", lab.network,
        "--add-host", f"internal-ok.test:{lab.web_ip}", "--add-host", "internal-meta.test:169.254.169.254",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges", *squid_shape_args(),
        "--env", CONFIG_ENV, IMAGE,
        env={CONFIG_ENV: config},
    )  # fmt: skip
    try:
        wait_for(lambda: "Accepting HTTP" in engine.run("logs", name).stderr, 20, "the standalone squid")
        yield name, engine
    finally:
        engine.run("rm", "-f", name, check=False)


def squid_log(engine: DockerEngine, name: str) -> list[dict[str, str]]:
    out = engine.run("logs", name).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_an_internal_name_never_reaches_the_metadata_address(
    lab: Lab, squid: tuple[str, DockerEngine]
) -> None:
    name, engine = squid
    c = secrets.token_hex(4)
    curl = f"curl -s -o /dev/null -x http://{name}:3128"
    out = lab.control(
        f"{curl} -w 'ok=%{{http_code}}\\n' http://internal-ok.test/ok-{c}; "
        f"{curl} -w 'meta=%{{http_code}}\\n' http://internal-meta.test/{c}"
    )
    assert "ok=200" in out  # the control: an internal name to a private address passes
    assert "meta=403" in out
    assert lab.web_saw(f"/ok-{c}")
    reasons = {(e["host"], e["reason"]) for e in squid_log(engine, name)}
    assert ("internal-meta.test", "metadata_address") in reasons


def test_a_refused_name_is_never_looked_up(lab: Lab, squid: tuple[str, DockerEngine]) -> None:
    name, _ = squid
    c = secrets.token_hex(6)
    curl = f"curl -s -o /dev/null -x http://{name}:3128"
    out = lab.control(
        f"{curl} -w 'refused=%{{http_connect}}\\n' https://{c}.exfil.test/; "
        f"{curl} -w 'plain=%{{http_code}}\\n' http://{c}.exfil.test/; "
        f"{curl} -w 'control=%{{http_code}}\\n' http://ctl-{c}.resolve.test/"
    )
    assert "refused=403" in out
    assert "plain=403" in out
    # The control: an allowed name is looked up, at the lab's DNS server.
    wait_for(lambda: f"ctl-{c}.resolve.test" in lab.dns_queries(), 10, "the control's lookup")
    assert not any(q.startswith(c) for q in lab.dns_queries())
