"""Squid's access log read field by field (pure): every default a missing field
takes, every line that is skipped, and why a request let through failed.

The sidecar suite reads these lines from a real Squid; these cases pin each
branch of the reader so that a generated mutant of it fails a named test
(docs/testing.md: the mutmut run)."""

from __future__ import annotations

import json

import pytest

from claude_bottle.proxies.events import (
    CONNECTION_FAILED,
    CONNECTION_REFUSED,
    HOST_NOT_ALLOWED,
    NAME_NOT_RESOLVED,
    SNI_NOT_ALLOWED,
    UPSTREAM_TIMEOUT,
)
from claude_bottle.proxies.squid import SquidBackend, read_squid_log, squid_failure


def line(**fields: object) -> str:
    return json.dumps(fields)


def test_lines_that_are_not_ours_are_skipped_wherever_they_are() -> None:
    log = "\n".join([
        '{"host": "\\"}{ broken',
        "[1, 2]",
        "2026/11/28 06:40:44| kid1| a line of Squid's own",
        line(host="a.test", port="443", result="TCP_TUNNEL", reason="-", method="CONNECT", ts=2.5),
    ])  # fmt: skip
    [event] = read_squid_log(log)
    assert (event.host, event.port, event.allowed, event.method, event.ts) == (
        "a.test",
        443,
        True,
        "CONNECT",
        2.5,
    )


def test_a_line_with_only_a_host_is_an_allowed_request_with_every_default() -> None:
    [event] = read_squid_log(line(host="A.Test"))
    assert event.host == "a.test"
    assert event.port is None
    assert event.allowed is True
    assert (event.reason, event.method, event.warning, event.failure) == ("", "", "", "")
    assert event.ts is None


@pytest.mark.parametrize("host", ["-", ""], ids=["dash", "empty"])
def test_a_line_without_a_host_is_skipped(host: str) -> None:
    assert read_squid_log(line(host=host, result="TCP_DENIED", reason="host_not_allowed")) == []


def test_a_line_with_no_host_field_is_skipped() -> None:
    assert read_squid_log(line(result="TCP_DENIED", reason="host_not_allowed")) == []


def test_a_denial_without_a_reason_reads_as_a_host_not_allowed() -> None:
    [event] = read_squid_log(line(host="b.test", port="80", result="TCP_DENIED", reason="-", method="GET"))
    assert (event.allowed, event.reason) == (False, HOST_NOT_ALLOWED)


def test_a_reason_alone_refuses_and_is_kept() -> None:
    [event] = read_squid_log(line(host="b.test", result="TCP_MISS", reason="port_not_allowed"))
    assert (event.allowed, event.reason) == (False, "port_not_allowed")


def test_a_refused_request_has_no_failure_even_with_an_error_code() -> None:
    entry = line(host="b.test", result="TCP_DENIED", reason="host_not_allowed", status=503,
                 server="-", error="ERR_CONNECT_FAIL", detail="errno=111")  # fmt: skip
    [event] = read_squid_log(entry)
    assert (event.allowed, event.failure) == (False, "")


@pytest.mark.parametrize(
    ("reason", "sni", "host"),
    [
        pytest.param(SNI_NOT_ALLOWED, "real.test", "real.test", id="the-name-the-client-asked-for"),
        pytest.param(SNI_NOT_ALLOWED, "", "front.test", id="empty-sni"),
        pytest.param(SNI_NOT_ALLOWED, "-", "front.test", id="dash-sni"),
        pytest.param(SNI_NOT_ALLOWED, None, "front.test", id="no-sni"),
        pytest.param(
            "port_not_allowed", "real.test", "front.test", id="another-reason-keeps-the-connect-host"
        ),
    ],
)
def test_a_server_name_replaces_the_host_only_for_a_refused_sni(
    reason: str, sni: str | None, host: str
) -> None:
    fields: dict[str, object] = {"host": "front.test", "port": "443", "result": "NONE_NONE", "reason": reason}
    if sni is not None:
        fields["sni"] = sni
    [event] = read_squid_log(line(**fields))
    assert event.host == host


def test_the_first_of_several_warnings_is_kept_and_a_dash_is_none() -> None:
    both = line(host="a.test", result="TCP_MISS", reason="-", warning="secret_in_request,another")
    dash = line(host="a.test", result="TCP_MISS", reason="-", warning="-")
    assert [e.warning for e in read_squid_log(both + "\n" + dash)] == ["secret_in_request", ""]


@pytest.mark.parametrize(("ts", "expected"), [(7, 7.0), (1.25, 1.25), ("7", None), (None, None)])
def test_the_time_is_a_number_or_none(ts: object, expected: float | None) -> None:
    [event] = read_squid_log(line(host="a.test", ts=ts))
    assert event.ts == expected


def test_the_backend_reads_its_events_with_this_reader() -> None:
    log = line(host="a.test", result="TCP_DENIED", reason="-", method="GET", ts=1)
    assert SquidBackend().read_events(log) == read_squid_log(log) != []


@pytest.mark.parametrize(
    ("entry", "failure"),
    [
        pytest.param({"status": 200, "server": "10.0.0.2"}, "", id="answered"),
        pytest.param({"result": "NONE_NONE", "status": 503}, NAME_NOT_RESOLVED, id="no-server-field"),
        pytest.param(
            {"result": "NONE_NONE", "status": 503, "server": ""}, NAME_NOT_RESOLVED, id="empty-server"
        ),
        pytest.param(
            {"result": "NONE_NONE", "status": 500, "server": "10.0.0.2"},
            CONNECTION_FAILED,
            id="a-peeked-tunnel-at-500",
        ),
        pytest.param({"result": "NONE_NONE", "status": 499, "server": "10.0.0.2"}, "", id="below-500"),
        pytest.param(
            {"result": "NONE_NONE", "status": "503", "server": "10.0.0.2"}, "", id="status-not-a-number"
        ),
        pytest.param(
            {"error": "ERR_CONNECT_FAIL", "server": "10.0.0.2", "detail": "errno=111+TLS"},
            CONNECTION_REFUSED,
            id="errno-before-a-plus",
        ),
        pytest.param(
            {"error": "ERR_CONNECT_FAIL", "server": "10.0.0.2", "detail": "errno=111+errno=110"},
            CONNECTION_REFUSED,
            id="the-first-errno",
        ),
        pytest.param(
            {"error": "ERR_CONNECT_FAIL", "server": "10.0.0.2", "detail": "errno=99"},
            CONNECTION_FAILED,
            id="an-errno-not-named",
        ),
        pytest.param(
            {"error": "ERR_READ_TIMEOUT", "server": "10.0.0.2", "detail": "errno=111"},
            UPSTREAM_TIMEOUT,
            id="an-errno-only-refines-a-connection-failure",
        ),
    ],
)
def test_why_a_request_let_through_failed(entry: dict[str, object], failure: str) -> None:
    assert squid_failure(entry) == failure
