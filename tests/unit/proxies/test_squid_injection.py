"""Credential injection in the Squid configuration (pure), line by line: each
injected host is the one parent of its own accelerator port, over TLS when its
origin is https, with the agent's credential headers dropped there, and the
host reached no other way. The exact lines are written here, not in a golden
file, so no update flag can rewrite them (the engine suite sends requests
through them: tests/sidecar/test_credentials.py)."""

from __future__ import annotations

import base64

import pytest

from claude_bottle.proxies.base import READY_HOST, ProxySpec
from claude_bottle.proxies.credentials import Injection
from claude_bottle.proxies.squid import (
    PROXY_UID,
    RUN_DIR,
    SSH_KEYS_ENV,
    SquidBackend,
    render_credentials,
    render_squid_config,
)

MODEL = Injection(3130, "api.lab.test", "x-api-key", "ANTHROPIC_API_KEY")
GIT = Injection(3131, "git.lab.test", "git-basic", "GH_TOKEN", scheme="http", upstream_port=80)
SPEC = ProxySpec(allow=("a.test",), injections=(MODEL, GIT))


def lines(spec: ProxySpec = SPEC) -> list[str]:
    return render_squid_config(spec).splitlines()


def test_each_injected_port_is_named_and_the_hosts_are_one_list() -> None:
    assert [x for x in lines() if "inject" in x and x.startswith("acl ")] == [
        "acl inject_3130 myportname inject_3130",
        "acl inject_3131 myportname inject_3131",
        "acl inject_ports myportname inject_3130 inject_3131",
        "acl injected_hosts dstdomain -n api.lab.test git.lab.test",
    ]


def test_an_injected_host_is_the_one_parent_of_its_port_over_tls_when_https() -> None:
    text = lines()
    start = text.index("server_persistent_connections off")
    assert text[start : start + 12] == [
        "server_persistent_connections off",
        "never_direct allow inject_ports",
        "cache_peer api.lab.test parent 443 0 no-query originserver no-digest no-netdb-exchange tls"
        " forceddomain=api.lab.test name=peer_3130",
        "cache_peer_access peer_3130 allow inject_3130",
        "cache_peer_access peer_3130 deny all",
        "cache_peer git.lab.test parent 80 0 no-query originserver no-digest no-netdb-exchange"
        " forceddomain=git.lab.test name=peer_3131",
        "cache_peer_access peer_3131 allow inject_3131",
        "cache_peer_access peer_3131 deny all",
        "request_header_access Authorization deny inject_ports",
        "request_header_access X-Api-Key deny inject_ports",
        "request_header_access Proxy-Authorization deny inject_ports",
        "include /run/squid/credentials.conf",
    ]


def test_the_injected_ports_are_let_through_and_their_hosts_reached_no_other_way() -> None:
    rules = [x for x in lines() if x.startswith("http_access")]
    assert rules[:5] == [
        "http_access deny manager why_admin",
        "http_access deny dlp_url why_dlp",
        "http_access deny dlp_header !inject_ports why_dlp",  # the agent's placeholder is secret-shaped
        "http_access allow inject_ports",
        "http_access deny injected_hosts why_credential",
    ]


def test_without_injection_there_is_no_injection_line() -> None:
    text = render_squid_config(ProxySpec(allow=("a.test",)))
    for word in ("inject", "cache_peer", "server_persistent_connections", "never_direct", "credentials.conf"):
        assert word not in text


def test_no_host_allowed_refuses_every_host_by_name() -> None:
    rules = [x for x in lines(ProxySpec(allow=())) if x.startswith("http_access")]
    assert "http_access deny all why_host" in rules[: rules.index("http_access deny metadata_dst why_meta")]


def test_the_credential_lines_are_one_per_injected_port_with_a_value() -> None:
    text = render_credentials(SPEC, {3130: "sk-real", 3131: "Basic eDp5"})
    assert text == (
        'request_header_add X-Api-Key "sk-real" inject_3130\n'
        'request_header_add Authorization "Basic eDp5" inject_3131\n'
    )
    assert (
        render_credentials(SPEC, {3131: "Basic eDp5"})
        == 'request_header_add Authorization "Basic eDp5" inject_3131\n'
    )


def test_the_sidecars_secrets_are_one_line_each() -> None:
    env = SquidBackend().secret_env(SPEC, {3130: "sk-real"}, ssh_keys=(b"key one", b"key two"))
    assert (
        env[SSH_KEYS_ENV]
        == f"{base64.b64encode(b'key one').decode()} {base64.b64encode(b'key two').decode()}"
    )
    assert all("\n" not in value for value in env.values())


def test_the_sidecars_shape_and_readiness() -> None:
    backend = SquidBackend()
    shape = backend.shape()
    assert shape.read_only is True
    assert shape.tmpfs == (
        (RUN_DIR, f"rw,noexec,nosuid,nodev,size=4m,mode=0700,uid={PROXY_UID},gid={PROXY_UID}"),
    )
    ready = backend.readiness("10.0.0.2")
    assert (ready.url, ready.status, ready.via_proxy) == (f"http://{READY_HOST}/", 403, True)


@pytest.mark.parametrize(
    ("dlp", "rule"),
    [
        ("block", "http_access deny dlp_header !inject_ports why_dlp"),
        ("warn", "note dlp_warning secret_in_request dlp_header !inject_ports"),
    ],
)
def test_dlp_exempts_the_injected_ports_header_in_either_mode(dlp: str, rule: str) -> None:
    spec = ProxySpec(allow=("a.test",), dlp=dlp, injections=(MODEL,))  # type: ignore[arg-type]
    assert rule in lines(spec)
