"""Pure translations: sidecar config, port guard, ssh config, known_hosts, ignore rules."""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import io
import ipaddress
import itertools
import json
import os
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from claude_bottle.bottle.agent import agent_spec, proxy_env
from claude_bottle.bottle.floor import REFUSE, egress_ports, floor_script, floor_spec, internal_names
from claude_bottle.bottle.sidecar import sidecar_spec
from claude_bottle.bottle.ssh import matching_known_hosts, ssh_config
from claude_bottle.engine.docker import DockerEngine, container_args, files_tar, storage_limit_problem
from claude_bottle.errors import EngineError
from claude_bottle.manifest.model import SshEntry
from claude_bottle.manifest.parse import parse_manifest
from claude_bottle.plan.plan import LaunchPlan, Options, build_plan
from claude_bottle.plan.render import render_plan
from claude_bottle.proxies.base import FLOOR_REFUSED, ProxySpec
from claude_bottle.proxies.pipelock import pipelock_config, pipelock_refusal, render_pipelock_config
from claude_bottle.workspace.ignore import is_ignored, parse_rules


def lab_plan(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    ssh: list[dict[str, object]] | None = None,
    runtime: str = "runc",
    internal: list[str] | None = None,
):
    egress = {"allow": ["allowed.test"], "internal": internal or ["git.test"]}
    data = {
        "bottles": {"b": {"runtime": runtime, "egress": egress}},
        "agents": {"a": {"bottle": "b", "ssh": ssh or [], "env": {"K": {"from_env": "HOSTK"}}}},
    }
    return build_plan(parse_manifest(data, "m", tmp_path), Options("a"), {"HOSTK": "v"}, "s1", frozenset())


def test_pipelock_config_is_strict_with_our_keys_only() -> None:
    config = pipelock_config(
        ProxySpec(allow=("api.anthropic.com", "*.github.com"), internal=("git.corp.test",))
    )
    assert config["mode"] == "strict"
    assert config["api_allowlist"] == ["api.anthropic.com", "*.github.com", "git.corp.test"]
    assert config["trusted_domains"] == ["git.corp.test"]
    assert config["forward_proxy"]["enabled"] is True
    assert config["forward_proxy"]["max_tunnel_seconds"] >= 3600
    assert config["fetch_proxy"]["monitoring"]["max_requests_per_minute"] >= 10_000
    assert config["sentry"] == {"enabled": False}
    assert config["metrics_listen"].startswith("127.0.0.1:")
    assert "internal" not in config  # the private-address guard keeps its defaults
    assert "dsn" not in render_pipelock_config(ProxySpec(allow=("a.test",)))
    assert json.loads(render_pipelock_config(ProxySpec(allow=("a.test",))))["logging"]["format"] == "json"


@pytest.mark.parametrize(
    ("dlp", "enabled", "action"), [("block", True, "block"), ("warn", True, "warn"), ("off", False, "warn")]
)
def test_dlp_switch(dlp: str, enabled: bool, action: str) -> None:
    scanning = pipelock_config(ProxySpec(allow=("a.test",), dlp=dlp))["request_body_scanning"]  # type: ignore[arg-type]
    assert (scanning["enabled"], scanning["action"]) == (enabled, action)
    assert scanning["max_body_bytes"] == 5 * 1024 * 1024  # the README's limit


def test_pipelock_refuses_a_plain_http_model_endpoint_only_where_its_dlp_blocks() -> None:
    plain = ProxySpec(
        allow=("api.test",), credential_hosts=("api.test",), plain_credential_hosts=("api.test",)
    )
    problem = pipelock_refusal(plain)
    assert problem is not None
    assert problem.startswith("the model endpoint api.test (ANTHROPIC_BASE_URL) is plain HTTP, and the ")
    assert 'egress.proxy "squid"' in problem
    assert pipelock_refusal(ProxySpec(allow=("api.test",), credential_hosts=("api.test",))) is None  # https
    for dlp in ("warn", "off"):
        assert pipelock_refusal(replace(plain, dlp=dlp)) is None


@pytest.mark.parametrize(
    ("base_url", "plain"),
    [
        pytest.param("http://gw.test:4000", ("gw.test",), id="http"),
        pytest.param("HTTP://GW.test/", ("gw.test",), id="upper-case"),
        pytest.param("https://gw.test", (), id="https"),
    ],
)
def test_the_plan_names_a_plain_http_model_endpoint(
    tmp_path: Path, base_url: str, plain: tuple[str, ...]
) -> None:
    data = {
        "bottles": {"b": {"egress": {"allow": ["gw.test"], "proxy": "pipelock"}}},
        "agents": {"a": {"bottle": "b", "env": {"ANTHROPIC_BASE_URL": base_url}}},
    }
    plan = build_plan(parse_manifest(data, "m", tmp_path), Options("a"), {}, "s1", frozenset())
    assert plan.proxy_spec().credential_hosts == ("gw.test",)
    assert plan.proxy_spec().plain_credential_hosts == plain
    assert (plan.proxy.refusal(plan.proxy_spec()) is not None) == bool(plain)


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


def run_args(
    plan: LaunchPlan, name: str, network: str, labels: dict[str, str], proxy_host: str
) -> tuple[str, ...]:
    """The agent's `docker run` arguments, as the Docker engine translates its spec."""
    spec = agent_spec(plan, name, network, labels, proxy_host)
    return ("run", "--detach", *container_args(spec, env_file="/dev/fd/7"))


def test_agent_run_args_hold_no_value_and_no_manifest_name(tmp_path: Path) -> None:
    plan = lab_plan(tmp_path, runtime="runsc")
    args = run_args(plan, "c", "net", {"l": "1"}, "10.1.2.3")
    assert ("--env-file", "/dev/fd/7") in set(itertools.pairwise(args))  # the manifest's K is in there
    assert "K" not in args
    assert "v" not in args
    assert not any(a.startswith("K=") for a in args)
    assert args[args.index("--runtime") + 1] == "runsc"
    assert "HTTPS_PROXY=http://10.1.2.3:3128" in args  # Squid, the default proxy
    assert proxy_env("http://p:1")["NO_PROXY"] == "localhost,127.0.0.1"


def test_the_official_plugin_marketplace_is_not_installed_unless_the_manifest_says(tmp_path: Path) -> None:
    name = "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL"
    args = run_args(lab_plan(tmp_path), "c", "net", {}, "p")
    assert f"{name}=1" in args
    data = {
        "bottles": {"b": {"egress": {"allow": ["allowed.test"]}}},
        "agents": {"a": {"bottle": "b", "env": {name: "0"}}},
    }
    plan = build_plan(parse_manifest(data, "m", tmp_path), Options("a"), {}, "s1", frozenset())
    args = run_args(plan, "c", "net", {}, "p")
    assert f"{name}=1" not in args
    assert name not in args  # the manifest's value, in the env file


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_agent_run_args_carry_every_hardening_flag(tmp_path: Path, runtime: str) -> None:
    args = run_args(lab_plan(tmp_path, runtime=runtime), "c", "net", {}, "p")
    pairs = set(itertools.pairwise(args))
    assert {("--cap-drop", "ALL"), ("--security-opt", "no-new-privileges"), ("--network", "net"),
            ("--pids-limit", "1024"), ("--memory", "8g"), ("--cpus", "2")} <= pairs  # fmt: skip
    assert "--init" in args
    assert not any(a in args for a in ("--privileged", "--cap-add", "--volume", "-v", "--publish", "-p"))


@pytest.mark.parametrize("proxy", ["squid", "pipelock"])
def test_sidecar_run_args_carry_every_hardening_flag(tmp_path: Path, proxy: str) -> None:
    data = {
        "bottles": {"b": {"egress": {"allow": ["a.test"], "proxy": proxy}}},
        "agents": {"a": {"bottle": "b"}},
    }
    plan = build_plan(parse_manifest(data, "m", tmp_path), Options("a"), {}, "s1", frozenset())
    spec = sidecar_spec(plan, "side", "internal-net", "198.18.0.2", {"l": "1"}, "the config")
    args = ("run", "--detach", *container_args(spec))
    pairs = set(itertools.pairwise(args))
    assert {("--cap-drop", "ALL"), ("--security-opt", "no-new-privileges"), ("--network", "internal-net"),
            ("--ip", "198.18.0.2"), ("--pids-limit", "512"), ("--memory", "1g")} <= pairs  # fmt: skip
    assert not any(a in args for a in ("--privileged", "--cap-add", "--publish", "-p"))
    if proxy == "squid":
        assert "--read-only" in args
        assert ("--env", "CLAUDE_BOTTLE_SQUID_CONF") in pairs  # the value travels in the CLI's environment
        assert not any(a.startswith("CLAUDE_BOTTLE_SQUID_CONF=") for a in args)
    else:  # a file placed in the container before it starts, from a tar stream
        assert [(f.path, f.content) for f in spec.files] == [
            ("/etc/claude-bottle/pipelock.yaml", b"the config")
        ]
        with tarfile.open(fileobj=io.BytesIO(files_tar(spec.files))) as tar:
            member = tar.getmember("etc/claude-bottle/pipelock.yaml")
            assert (member.uid, member.mode) == (0, 0o444)
            assert tar.getmember("etc/claude-bottle").isdir()
    assert "the config" not in " ".join(args)
    assert not any(a in args for a in ("--volume", "-v", "--mount"))  # nothing from the host's disk


def test_the_floor_joins_the_sidecar_with_net_admin_alone(tmp_path: Path) -> None:
    spec = floor_spec(lab_plan(tmp_path).image, "side", {"l": "1"}, "true")
    args = container_args(spec, "container:side")
    pairs = set(itertools.pairwise(args))
    assert {("--network", "container:side"), ("--cap-drop", "ALL"), ("--cap-add", "NET_ADMIN"),
            ("--security-opt", "no-new-privileges"), ("--user", "0")} <= pairs  # fmt: skip
    assert args.count("--cap-add") == 1


def test_ssh_config_tunnels_through_the_sidecar() -> None:
    text = ssh_config((SshEntry("gh", hostname="github.com", user="git", port=22, identity_file="~/.ssh/k"),),
                      "egress-proxy", 8888)  # fmt: skip
    assert (
        "Host gh\n  HostName github.com\n  User git\n  Port 22\n  IdentityFile ~/.ssh/id_bottle_0_k" in text
    )
    assert "ProxyCommand nc -X connect -x egress-proxy:8888 %h %p" in text
    assert "ClearAllForwardings yes" in text


def test_known_hosts_plain_and_hashed() -> None:
    entry = SshEntry("git.test")
    salt = b"0123456789abcdefghij"
    digest = base64.b64encode(hmac.new(salt, b"git.test", hashlib.sha1).digest()).decode()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{digest} ssh-ed25519 AAAA"

    def carried(line: str, e: SshEntry = entry) -> bool:
        return matching_known_hosts(["unrelated.test ssh-ed25519 BBBB", line], (e,)) == (line,)

    assert carried(hashed)
    assert carried("other.test,git.test ssh-ed25519 AAAA")
    assert not carried("git.test.evil ssh-ed25519 AAAA")
    assert carried("[git.test]:2222 ssh-ed25519 AAAA", SshEntry("git.test", port=2222))
    assert not carried("@revoked git.test ssh-ed25519 AAAA")
    # As ssh matches them: wildcards are carried, a negated host is not.
    assert carried("*.test ssh-ed25519 AAAA")
    assert not carried("!git.test,*.test ssh-ed25519 AAAA")


def test_known_hosts_keep_entry_then_file_order() -> None:
    lines = ["b.test ssh-ed25519 B", "a.test ssh-ed25519 A1", "x.test ssh-ed25519 X", "a.test ssh-ed25519 A2"]
    entries = (SshEntry("a.test"), SshEntry("b.test"), SshEntry("a.test"))
    assert matching_known_hosts(lines, entries) == (lines[1], lines[3], lines[0])
    assert matching_known_hosts([], entries) == ()


@pytest.mark.parametrize(
    ("path", "is_dir", "ignored"),
    [
        ("node_modules", True, True),
        ("node_modules/x/y.js", False, True),
        ("src/build/out.o", False, True),
        ("build.txt", False, False),
        ("docs/keep.log", False, False),
        ("a.log", False, True),
        ("top-only.txt", False, True),
        ("sub/top-only.txt", False, False),
    ],
)
def test_ignore_rules(path: str, is_dir: bool, ignored: bool) -> None:
    rules = parse_rules("# deps\nnode_modules/\nbuild/\n*.log\n!docs/keep.log\n/top-only.txt\n")
    assert is_ignored(rules, path, is_dir) is ignored


@pytest.mark.parametrize("flag", ["-e", "--env"])
def test_a_failed_engine_call_never_shows_an_env_value(flag: str) -> None:
    # The real code path of a failure: a command that exits 1 (`false` stands in
    # for docker) and the error it raises, whose message the CLI prints.
    secret = "canary-" + hashlib.sha256(flag.encode()).hexdigest()[:12]
    engine = DockerEngine(binary=shutil.which("false") or "/bin/false")
    with pytest.raises(EngineError) as failed:
        engine.run("run", flag, f"TOKEN={secret}", "--env", "PLAIN", "img")
    assert str(failed.value) == f"'docker run {flag} TOKEN=<redacted> --env PLAIN img' failed (exit 1)"
    assert secret not in repr(failed.value.args)


@pytest.mark.parametrize(
    ("info", "problem"),
    [
        ('overlay2\t[["Backing Filesystem","extfs"],["Supports d_type","true"]]',
         "the engine's storage driver (overlay2 on extfs) cannot limit a container's disk"),
        ('overlay2\t[["Backing Filesystem","xfs"]]',
         "the engine's storage driver (overlay2 on xfs) cannot limit a container's disk (overlay2 can only "
         "on xfs mounted with pquota, which the engine does not report)"),
        ("btrfs\tnull", None),
        ("zfs\t[]", None),
        ("", "the engine's storage driver (unknown) cannot limit a container's disk"),
    ],
)  # fmt: skip
def test_a_disk_limit_is_set_only_where_the_storage_driver_can(info: str, problem: str | None) -> None:
    assert storage_limit_problem(info) == problem


def test_the_agent_s_disk_limit_is_in_its_arguments_only_where_the_engine_can(tmp_path: Path) -> None:
    spec = agent_spec(lab_plan(tmp_path), "c", "net", {}, "p")
    assert spec.limits.disk == "32g"
    assert ("--storage-opt", "size=32g") in set(
        itertools.pairwise(container_args(spec, env_file="/f", storage=True))
    )
    assert "--storage-opt" not in container_args(spec, env_file="/f", storage=False)
    data = {"bottles": {"b": {"egress": {"allow": ["a.test"]}}}, "agents": {"a": {"bottle": "b"}}}
    problem = "the engine's storage driver (overlay2 on extfs) cannot limit a container's disk"
    plan = build_plan(parse_manifest(data, "m", tmp_path), Options("a"), {}, "s1", frozenset(),
                      disk_limit_problem=problem)  # fmt: skip
    assert f"note: no disk limit in the bottle: {problem}; the harvest's caps still bound what comes out" in (
        render_plan(plan).splitlines()
    )
