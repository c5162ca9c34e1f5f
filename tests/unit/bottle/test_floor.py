"""The floor under the proxy: its script, its container's spec, and its refusal
as the Pipelock reader sees it (pure)."""

from __future__ import annotations

import errno
import ipaddress
import itertools
import os
from pathlib import Path

from claude_bottle.bottle.floor import REFUSE, egress_ports, floor_script, floor_spec, internal_names
from claude_bottle.engine.docker.argv import container_args
from claude_bottle.proxies.base import FLOOR_REFUSED
from tests.plans import lab_plan


def test_the_floor_opens_the_egress_ports_and_the_internal_hosts_only(tmp_path: Path) -> None:
    plan = lab_plan(tmp_path, ssh=[{"Host": "git.test", "Port": 2222}])
    assert egress_ports(plan.proxy_spec()) == (80, 443, 2222)
    assert egress_ports(lab_plan(tmp_path).proxy_spec()) == (80, 443)
    script = floor_script(plan.proxy_spec(), plan.proxy, ipaddress.IPv4Network("198.18.0.16/28"))
    lines = script.splitlines()
    for chain in ("INPUT", "FORWARD", "OUTPUT"):
        assert f":{chain} DROP [0:0]" in lines
    # In: the agent's connections to the proxy's port, from the bottle's network only.
    # (Squid's proxy port, and its port for ssh tunnels: this agent has an ssh entry.)
    assert "-A INPUT -s 198.18.0.16/28 -p tcp -m multiport --dports 3128,3129 -j ACCEPT" in lines
    # The metadata services before anything is accepted, loopback included.
    metadata = lines.index(f"-A OUTPUT -d 169.254.0.0/16 -p tcp -j {REFUSE}")
    assert metadata < lines.index("-A OUTPUT -o lo -j ACCEPT")
    never = lines.index(f"-A OUTPUT -d 100.64.0.0/10 -p tcp -j {REFUSE}")
    internal = next(i for i, x in enumerate(lines) if "-A OUTPUT -d $a/32" in x)
    private = lines.index(f"-A OUTPUT -d 10.0.0.0/8 -p tcp -j {REFUSE}")
    ports = lines.index("-A OUTPUT -p tcp -m multiport --dports 80,443,2222 -j ACCEPT")
    # The never-list before the internal hosts' addresses, the private ranges after them,
    # then the egress ports, then nothing.
    assert never < internal < private < ports
    assert lines[ports + 1 : ports + 4] == [f"-A OUTPUT -p tcp -j {REFUSE}", "-A OUTPUT -j REJECT", "COMMIT"]
    assert f"-A OUTPUT -d 192.168.0.0/16 -p tcp -j {REFUSE}" in lines
    assert "ip6tables-restore" in script


def test_the_floor_resolves_only_the_internal_hosts_named_exactly(tmp_path: Path) -> None:
    plan = lab_plan(tmp_path, internal=["git.corp.test", "*.models.corp.test", "Models.Corp.Test"])
    assert internal_names(plan.proxy_spec()) == ("git.corp.test", "models.corp.test")
    script = floor_script(plan.proxy_spec(), plan.proxy, ipaddress.IPv4Network("198.18.0.0/28"))
    assert "for name in git.corp.test models.corp.test; do" in script


def test_the_floors_refusal_is_what_the_pipelock_reader_recognises() -> None:
    # iptables' ICMP "protocol unreachable" is ENOPROTOOPT to a TCP connect.
    assert os.strerror(errno.ENOPROTOOPT).lower() == FLOOR_REFUSED
    assert "icmp-proto-unreachable" in REFUSE


def test_the_floor_joins_the_sidecar_with_net_admin_alone(tmp_path: Path) -> None:
    spec = floor_spec(lab_plan(tmp_path).image, "side", {"l": "1"}, "true")
    args = container_args(spec, "container:side")
    pairs = set(itertools.pairwise(args))
    assert {("--network", "container:side"), ("--cap-drop", "ALL"), ("--cap-add", "NET_ADMIN"),
            ("--security-opt", "no-new-privileges"), ("--user", "0")} <= pairs  # fmt: skip
    assert args.count("--cap-add") == 1
