"""The Squid configuration generator (pure): golden files for whole configs,
and the properties the wall rests on asserted one by one, so that a change to
the rules fails a named test and not only a diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claude_bottle.proxies.base import ProxySpec
from claude_bottle.proxies.squid import SSH_PORT, read_squid_log, render_squid_config, squid_domains

GOLDEN = Path(__file__).parent / "golden"
SPECS = {
    "default": ProxySpec(allow=("api.anthropic.com", "claude.ai", "*.claude.ai")),
    "full": ProxySpec(
        allow=("api.anthropic.com", "*.github.com", "GitHub.com.", "www.github.com"),
        internal=("git.corp.test", "models.corp.test"),
        ssh_routes=(("git.corp.test", 22), ("ssh.github.com", 443), ("www.github.com", 2222)),
        credential_hosts=("models.corp.test",),
    ),
    "warn": ProxySpec(allow=("a.test",), dlp="warn"),
    "dlp-off-internal-only": ProxySpec(allow=(), internal=("git.corp.test",), dlp="off"),
    "sni-off": ProxySpec(allow=("a.test",), sni=False),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_golden(name: str) -> None:
    text = render_squid_config(SPECS[name])
    golden = GOLDEN / f"squid-{name}.conf"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def rules(spec: ProxySpec) -> list[str]:
    return [line for line in render_squid_config(spec).splitlines() if line.startswith("http_access")]


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        pytest.param(("Example.COM.",), ("example.com",), id="case-and-trailing-dot"),
        pytest.param(("*.example.com",), (".example.com",), id="wildcard-is-apex-and-subdomains"),
        pytest.param(("example.com", "*.example.com"), (".example.com",), id="apex-before-wildcard"),
        pytest.param(("*.example.com", "example.com"), (".example.com",), id="apex-after-wildcard"),
        pytest.param(("www.example.com", "*.example.com"), (".example.com",), id="sub-before-wildcard"),
        pytest.param(("*.a.example.com", "*.example.com"), (".example.com",), id="nested-wildcards"),
        pytest.param(("a.test", "A.test", "a.test."), ("a.test",), id="duplicates"),
        pytest.param(
            ("evilexample.com", "*.example.com"), ("evilexample.com", ".example.com"), id="look-alike"
        ),
    ],
)
def test_domains_are_normalised_and_deduplicated(hosts: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert squid_domains(hosts) == expected


def test_names_are_matched_literally_never_by_reverse_dns() -> None:
    text = render_squid_config(SPECS["full"])
    assert "acl allowed_hosts dstdomain -n api.anthropic.com .github.com\n" in text
    assert "acl internal_hosts dstdomain -n git.corp.test models.corp.test\n" in text
    assert " dstdomain " not in text.replace(" dstdomain -n ", "")


def test_the_allowlist_is_decided_before_any_rule_that_resolves_names() -> None:
    order = rules(SPECS["full"])
    host_rule = order.index("http_access deny !allowed_hosts !internal_hosts why_host")
    assert host_rule < order.index("http_access deny metadata_dst why_meta")
    assert host_rule < order.index("http_access deny never_dst why_private")
    assert host_rule < order.index("http_access deny private_dst why_private")


def test_internal_names_pass_the_private_guard_but_never_reach_metadata_or_the_never_list() -> None:
    order = rules(SPECS["full"])
    assert (
        order.index("http_access deny metadata_dst why_meta")
        < order.index("http_access deny never_dst why_private")
        < order.index("http_access allow internal_hosts")
        < order.index("http_access deny private_dst why_private")
        < order.index("http_access allow allowed_hosts")
    )
    assert order[-1] == "http_access deny all why_host"


def test_the_address_lists_are_the_shared_ones() -> None:
    text = render_squid_config(SPECS["default"])
    acls = {line.split()[1]: line.split()[3:] for line in text.splitlines() if line.startswith("acl ")}
    listed = {*acls["metadata_dst"], *acls["never_dst"], *acls["private_dst"]}
    from claude_bottle import addresses

    for net in addresses.networks((*addresses.NEVER, *addresses.PRIVATE)):
        single = net.prefixlen == net.max_prefixlen
        assert (str(net.network_address) if single else str(net)) in listed, net
    for needed in ("169.254.0.0/16", "100.100.100.200", "168.63.129.16", "fd20:ce::254", "100.64.0.0/10"):
        assert needed in acls["metadata_dst"] + acls["never_dst"], needed
    assert set(acls["private_dst"]) == {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}


def test_ports_connect_only_to_https_and_ssh_plain_http_only_to_80() -> None:
    text = render_squid_config(SPECS["default"])
    assert "acl https_port port 443\n" in text
    assert "acl web_ports port 80\n" in text
    assert "http_access deny CONNECT !https_port why_port" in rules(SPECS["default"])
    assert "http_access deny !CONNECT !web_ports why_port" in rules(SPECS["default"])
    assert f"http_port {SSH_PORT}" not in text  # no ssh entries: no port for ssh tunnels


def test_ssh_tunnels_have_a_port_of_their_own_to_the_ssh_hosts_named_with_each_port() -> None:
    text = render_squid_config(SPECS["full"])
    order = rules(SPECS["full"])
    # The ssh listener is never peeked at (no ssl-bump flag): ssh is not TLS.
    assert f"\nhttp_port {SSH_PORT} name=ssh_tunnels\n" in text
    assert "acl ssh_listener myportname ssh_tunnels\n" in text
    assert "acl ssh_ports port 22 443 2222\n" in text  # sorted; never 80
    assert "acl ssh_hosts_22 dstdomain -n git.corp.test\n" in text
    assert "acl ssh_hosts_443 dstdomain -n ssh.github.com\n" in text
    assert "acl ssh_hosts_2222 dstdomain -n www.github.com\n" in text
    assert "http_access deny ssh_listener !CONNECT why_scheme" in order  # tunnels only
    assert "http_access deny ssh_listener !ssh_ports why_port" in order
    assert "http_access deny !ssh_listener CONNECT !https_port why_port" in order  # the proxy port: 443 only
    host_rule = order.index("http_access deny !allowed_hosts !internal_hosts why_host")
    for port in (22, 443, 2222):
        rule = f"http_access deny ssh_listener ssh_port_{port} !ssh_hosts_{port} why_port"
        # After the host rule (a host not allowed at all is refused as such), before any address rule.
        assert host_rule < order.index(rule) < order.index("http_access deny metadata_dst why_meta")


def test_no_v4_mapped_range_in_address_rules() -> None:
    # Squid keeps IPv4 addresses v4-mapped: ::ffff:0:0/96 would mean every address.
    assert "::ffff" not in render_squid_config(SPECS["full"])


def test_dlp_blocks_refuses_and_exempts_only_the_model_endpoint_headers() -> None:
    order = rules(SPECS["full"])
    assert "http_access deny dlp_url why_dlp" in order
    assert "http_access deny dlp_header !credential_hosts why_dlp" in order
    assert order.index("http_access deny dlp_url why_dlp") < order.index(
        "http_access deny !allowed_hosts !internal_hosts why_host"
    )
    assert "acl credential_hosts dstdomain -n models.corp.test" in render_squid_config(SPECS["full"])


def test_dlp_warn_annotates_and_off_has_no_rules() -> None:
    warn = render_squid_config(SPECS["warn"])
    assert "note dlp_warning secret_in_request dlp_url" in warn
    assert "why_dlp" not in "\n".join(rules(SPECS["warn"]))
    off = render_squid_config(SPECS["dlp-off-internal-only"])
    assert "dlp_url" not in off


def test_sni_check_is_on_by_default_peeks_and_splices_never_bumps() -> None:
    for text in (render_squid_config(SPECS["full"]), render_squid_config(SPECS["default"])):
        assert "ssl-bump tls-cert=" in text
        assert "generate-host-certificates=off" in text
        assert "ssl_bump splice sni_allowed" in text
        assert "ssl_bump bump" not in text
    assert "ssl-bump" not in render_squid_config(SPECS["sni-off"])


def test_no_cache_no_helpers_no_identifying_headers() -> None:
    text = render_squid_config(SPECS["default"])
    wanted = ("cache deny all", "pinger_enable off", "icp_port 0", "htcp_port 0", "snmp_access deny all",
              "via off", "forwarded_for delete", "read_timeout 60 minutes", "pid_filename none")  # fmt: skip
    for line in wanted:
        assert f"\n{line}\n" in text


LOG = "\n".join([
    "2026/11/28 06:40:44| Accepting HTTP Socket connections at conn2 local=0.0.0.0:3128",
    '{"ts":1795848049.500,"method":"GET","host":"claude-bottle-ready.invalid","port":"80","status":403,'
    '"result":"TCP_DENIED","server":"-","reason":"host_not_allowed","warning":"-","sni":"-"}',
    '{"ts":1795848049.518,"method":"GET","host":"api.lab.test","port":"80","status":403,'
    '"result":"TCP_DENIED","server":"-","reason":"secret_in_request","warning":"-","sni":"-"}',
    '{"ts":1795848049.550,"method":"CONNECT","host":"Allowed.test","port":"8443","status":403,'
    '"result":"TCP_DENIED","server":"-","reason":"port_not_allowed","warning":"-","sni":"-"}',
    '{"ts":1795848050.000,"method":"CONNECT","host":"allowed.test","port":"443","status":200,'
    '"result":"TCP_TUNNEL","server":"172.18.0.3","reason":"-","warning":"-","sni":"-"}',
    '{"ts":1795848050.100,"method":"GET","host":"a.test","port":"80","status":200,'
    '"result":"TCP_MISS","server":"172.18.0.3","reason":"-","warning":"secret_in_request","sni":"-"}',
    '{"ts":1795848050.200,"method":"CONNECT","host":"allowed.test","port":"443","status":200,'
    '"result":"NONE_NONE","server":"-","reason":"sni_not_allowed","warning":"-","sni":"blocked.test"}',
    '{"ts":1,"method":"-","host":"-","port":"-","status":0,"result":"NONE_NONE","reason":"-"}',
    '{"host": "\\"}{ broken',
    "[1, 2]",
])  # fmt: skip


def test_the_access_log_becomes_shared_events() -> None:
    events = read_squid_log(LOG)
    assert [(e.host, e.port, e.allowed, e.reason, e.warning) for e in events] == [
        ("api.lab.test", 80, False, "secret_in_request", ""),
        ("allowed.test", 8443, False, "port_not_allowed", ""),
        ("allowed.test", 443, True, "", ""),
        ("a.test", 80, True, "", "secret_in_request"),
        ("blocked.test", 443, False, "sni_not_allowed", ""),  # the name the client really asked for
    ]


# Squid 5.7's lines for requests it let through that never reached their host,
# as measured against lab containers (a name the lab's DNS answers NXDOMAIN for;
# a container with nothing listening), with the SNI check on (peeked tunnels)
# and off.
FAILED_LOG = "\n".join([
    # A peeked tunnel: the first line is the peek itself (skipped), then a bare 503.
    '{"ts":1.0,"method":"CONNECT","host":"refuser.test","port":"443","status":200,"result":"NONE_NONE",'
    '"server":"-","reason":"-","warning":"-","sni":"refuser.test","error":"-","detail":"-"}',
    '{"ts":1.1,"method":"CONNECT","host":"refuser.test","port":"443","status":503,"result":"NONE_NONE",'
    '"server":"192.168.0.3","reason":"-","warning":"-","sni":"refuser.test","error":"-","detail":"-"}',
    '{"ts":1.2,"method":"GET","host":"refuser.test","port":"80","status":503,"result":"TCP_MISS",'
    '"server":"192.168.0.3","reason":"-","warning":"-","sni":"-","error":"ERR_CONNECT_FAIL","detail":"WITH_SERVER"}',
    # Not peeked (egress.sni false): the errno is there.
    '{"ts":1.3,"method":"CONNECT","host":"refuser.test","port":"443","status":503,"result":"NONE_NONE",'
    '"server":"192.168.0.3","reason":"-","warning":"-","sni":"-","error":"ERR_CONNECT_FAIL","detail":"errno=111"}',
    # A name that does not resolve: no server address, tunnel and plain HTTP alike.
    '{"ts":1.4,"method":"CONNECT","host":"nowhere.test","port":"443","status":500,"result":"NONE_NONE",'
    '"server":"-","reason":"-","warning":"-","sni":"nowhere.test","error":"ERR_CANNOT_FORWARD","detail":"-"}',
    '{"ts":1.5,"method":"GET","host":"nowhere.test","port":"80","status":502,"result":"TCP_MISS",'
    '"server":"-","reason":"-","warning":"-","sni":"-","error":"ERR_READ_ERROR","detail":"WITH_SERVER"}',
    # Answered, whatever the status: the host's own 500 is an answer.
    '{"ts":1.6,"method":"GET","host":"allowed.test","port":"80","status":500,"result":"TCP_MISS",'
    '"server":"192.168.0.2","reason":"-","warning":"-","sni":"-","error":"-","detail":"-"}',
])  # fmt: skip


def test_requests_let_through_that_failed_upstream_say_why() -> None:
    events = read_squid_log(FAILED_LOG)
    assert [(e.host, e.port, e.outcome, e.failure) for e in events] == [
        ("refuser.test", 443, "failed", "connection_failed"),
        ("refuser.test", 80, "failed", "connection_failed"),
        ("refuser.test", 443, "failed", "connection_refused"),
        ("nowhere.test", 443, "failed", "name_not_resolved"),
        ("nowhere.test", 80, "failed", "name_not_resolved"),
        ("allowed.test", 80, "answered", ""),
    ]
