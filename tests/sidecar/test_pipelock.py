"""Pipelock's own faults, measured on the real binary (the run of the sidecar
suite with CLAUDE_BOTTLE_TEST_PROXY=pipelock; tests/sidecar/conftest.py leaves
this file out of Squid's run). Each case is either held by what claude-bottle
adds around Pipelock (the port guard, a refusal in the plan) or a stated limit
in the README's Security table, shown here as it is:

- an `egress.internal` name resolving to the metadata address: Pipelock's
  `trusted_domains` let it through; the port guard refuses it;
- a plain-HTTP model endpoint: Pipelock's request DLP refuses Claude Code's
  own requests and cannot exempt one host, so the plan refuses such a bottle
  (tests/sidecar/test_egress.py); with `egress.dlp: "warn"` it answers;
- a plain-HTTP request body over 5 MiB: refused (Pipelock cannot scan it);
- a tunnel whose client says nothing for 5 s: closed (Pipelock waits that long
  for a TLS ClientHello to check its server name), so a protocol whose server
  speaks first cannot use a tunnel."""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_bottle.bottle.floor import APPLIED, floor_script, floor_spec
from claude_bottle.engine.api import FileSpec
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.engine.docker.argv import files_tar
from claude_bottle.proxies.base import ProxySpec
from claude_bottle.proxies.pipelock import CONFIG_PATH, PROXY_PORT, PipelockBackend, read_pipelock_log
from tests.conftest import trust_manifest, wait_for
from tests.engine.conftest import cli
from tests.sidecar.conftest import ATTACKER_IMAGE, LAB_LABEL, WEB_IMAGE, Lab
from tests.sidecar.test_redteam import VIA, attack, canary, curl

METADATA = "169.254.169.254"


def container_log(engine: DockerEngine, name: str) -> str:
    return engine.run("logs", name).stdout


@pytest.fixture
def pipelock(engine: DockerEngine, lab: Lab, sidecar_image: str) -> Iterator[tuple[str, str]]:
    """A standalone Pipelock sidecar (the product's image, configuration and
    container shape) on the lab network, with two `egress.internal` names pinned
    in its hosts file: one to the lab's web server, one to the metadata address,
    where a lab web server answers in the sidecar's own network namespace (as a
    cloud's metadata service answers a host's containers). Its name, and the
    metadata server's."""
    spec = ProxySpec(allow=(), internal=("internal-ok.test", "internal-meta.test"))
    tag = secrets.token_hex(3)
    name, meta = f"lab-pipelock-{tag}", f"lab-metadata-{tag}"
    backend = PipelockBackend()
    engine.run(
        "create", "--name", name, "--label", f"{LAB_LABEL}=1", "--network", lab.network,
        "--add-host", f"internal-ok.test:{lab.web_ip}", "--add-host", f"internal-meta.test:{METADATA}",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        *(a for key, value in backend.shape().env for a in ("--env", f"{key}={value}")),
        sidecar_image, *backend.command(),
    )  # fmt: skip
    try:
        config = FileSpec(CONFIG_PATH, backend.render_config(spec).encode(), 0o444)
        engine.run("cp", "-", f"{name}:/", stdin=files_tar((config,)))
        engine.run("start", name)
        wait_for(lambda: '"event":"startup"' in container_log(engine, name), 20, "the standalone Pipelock")
        engine.run(
            "run", "--rm", "--label", f"{LAB_LABEL}=1", "--network", f"container:{name}",
            "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--user", "0",
            ATTACKER_IMAGE, "ip", "addr", "add", f"{METADATA}/32", "dev", "lo",
        )  # fmt: skip
        engine.run("run", "-d", "--name", meta, "--label", f"{LAB_LABEL}=1", "--network", f"container:{name}",
                   WEB_IMAGE)  # fmt: skip
        wait_for(lambda: '"ready"' in container_log(engine, meta), 30, "the metadata stand-in")
        yield name, meta
    finally:
        engine.run("rm", "-f", meta, name, check=False)


def test_an_internal_name_never_reaches_the_metadata_address(
    engine: DockerEngine, lab: Lab, agent_image: str, pipelock: tuple[str, str]
) -> None:
    name, meta = pipelock
    c = canary()
    via = f"-k -x http://{name}:{PROXY_PORT}"
    # The fault, measured: Pipelock alone lets an egress.internal name reach the
    # metadata address (a tunnel: each one a new connection, none kept for later).
    before = lab.control(
        f"curl -s -o /dev/null -w 'before=%{{http_code}}\\n' {via} https://internal-meta.test/b-{c}"
    )
    assert "before=200" in before
    assert f"/b-{c}" in container_log(engine, meta)

    # The product's floor, as a launch installs it for this sidecar's configuration
    # (its clients here are lab containers: the lab network stands for the bottle's).
    spec = ProxySpec(allow=(), internal=("internal-ok.test", "internal-meta.test"))
    subnet = ipaddress.IPv4Network(
        engine.json("network", "inspect", lab.network)[0]["IPAM"]["Config"][0]["Subnet"]
    )
    floor = floor_spec(agent_image, name, {LAB_LABEL: "1"}, floor_script(spec, PipelockBackend(), subnet))
    applied = engine.run_to_end(floor, join=name)
    assert applied.returncode == 0, applied.stderr
    assert f"{APPLIED} {lab.web_ip}" in applied.stdout  # internal-ok.test opened; the metadata one not
    curl = f"curl -s -o /dev/null {via}"
    after = lab.control(
        f"{curl} -w 'tls=%{{http_code}}/%{{http_connect}}\\n' https://internal-meta.test/{c}; "
        f"{curl} -w 'http=%{{http_code}}\\n' http://internal-meta.test/{c}; "
        f"{curl} -w 'ok=%{{http_code}}\\n' http://internal-ok.test/ok-{c}"
    )
    assert "tls=000/502" in after  # Pipelock's answer to a dial the floor refused
    assert "http=502" in after
    assert "ok=200" in after  # the control: an internal name to a private address passes
    assert lab.web_sees(f"/ok-{c}")
    assert f"/{c}" not in container_log(engine, meta)
    events = read_pipelock_log(container_log(engine, name))
    refused = {(e.host, e.port, e.reason) for e in events if not e.allowed}
    assert refused == {
        ("internal-meta.test", 443, "metadata_address"),
        ("internal-meta.test", None, "metadata_address"),
    }


def test_a_plain_http_body_over_five_mib_is_refused(lab_project: Path, lab: Lab) -> None:
    c = canary()
    # Over the limit, and a small body Pipelock scans in well under curl's 8 s
    # (its scan is slow: one to several seconds per MB on these cores, by content).
    body = "seq 1 900000 > /tmp/big; seq 1 10000 > /tmp/small"
    a = attack(lab_project, "attacker", "; ".join([
        body, "echo big=$(wc -c < /tmp/big)",
        curl("plain", f"http://allowed.test/big-{c}", VIA, "--data-binary @/tmp/big"),
        curl("small", f"http://allowed.test/small-{c}", VIA, "--data-binary @/tmp/small"),
        curl("tls", f"https://allowed.test/tls-{c}", VIA, "-k --data-binary @/tmp/big"),
    ]))  # fmt: skip
    assert int(a.value("big")) > 5 * 1024 * 1024
    assert a.value("plain") == "403/000/0"
    assert not lab.web_saw(f"/big-{c}")
    assert a.value("small") == "200/000/0"  # the control: a body it can scan
    assert a.value("tls") == "200/200/0"  # the same body in a tunnel, which Pipelock does not read
    assert lab.web_sees(f"/small-{c}")
    assert lab.web_sees(f"/tls-{c}")
    assert "allowed.test: body_not_scanned (" in a.stderr


def test_a_tunnel_whose_client_says_nothing_for_five_seconds_is_closed(lab_project: Path, lab: Lab) -> None:
    tunnel = "nc -X connect -x ${HTTPS_PROXY#http://} git.allowed.test 22"
    a = attack(lab_project, "gitter", "; ".join([
        # The control: a client that speaks first gets the ssh server's banner.
        f"(printf 'SSH-2.0-probe\\r\\n'; sleep 2) | {tunnel} 2>/dev/null | head -c 8 > /tmp/spoke",
        "echo spoke=$(cat /tmp/spoke)",
        # A silent client (as one of a protocol whose server speaks first): the
        # server's banner never comes back, and Pipelock closes the tunnel.
        f"sleep 8 | {tunnel} > /tmp/silent 2>/dev/null; echo silent=$(wc -c < /tmp/silent)",
    ]))  # fmt: skip
    assert a.value("spoke") == "SSH-2.0-"
    assert a.value("silent") == "0"
    assert "git.allowed.test: sni_unverified (" in a.stderr


def test_a_plain_http_model_endpoint_answers_with_dlp_warn(lab_project: Path, lab: Lab) -> None:
    """The plan refuses a plain-HTTP model endpoint under Pipelock's blocking DLP
    (test_egress.py); a user who sets egress.dlp "warn" gets the answer, and the
    summary says what the DLP found."""
    manifest_path = lab_project / "claude-bottle.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["bottles"]["lab-warn"] = {"egress": {**manifest["bottles"]["lab"]["egress"], "dlp": "warn"}}
    manifest["agents"]["plain-coder-warn"] = {**manifest["agents"]["plain-coder"], "bottle": "lab-warn"}
    manifest_path.write_text(json.dumps(manifest))
    trust_manifest(manifest_path)
    result = cli("run", "plain-coder-warn", "--", "claude", "-p", "say hello", cwd=lab_project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from the lab model"
    assert "allowed : api.lab.test" in result.stderr
    assert "warned  : api.lab.test: secret_in_request (" in result.stderr
