"""The shared egress event model: Pipelock's log read into it, and the summary
every backend's events make (pure)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from claude_bottle.cli.commands import shell
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.proxies.events import (
    EgressEvent,
    event_line,
    events_jsonl,
    format_duration,
    render_report,
    summarize,
)
from claude_bottle.proxies.pipelock import read_pipelock_log
from claude_bottle.settings import Settings

# Lines as Pipelock 2.3.0 wrote them in the lab (client addresses and some fields
# trimmed; the IPv6 target's line is the IPv4 one's shape with another address).
PIPELOCK_LOG = "\n".join([
    '{"level":"info","component":"pipelock","event":"startup","listen":"0.0.0.0:8888","mode":"strict",'
    '"version":"2.3.0","time":"2026-12-05T20:51:17Z","message":"pipelock started"}',
    '{"level":"warn","component":"pipelock","event":"blocked","method":"GET","url":"http://blocked.test/x",'
    '"request_id":"req-1","scanner":"allowlist","reason":"domain not in allowlist: blocked.test",'
    '"time":"2026-12-05T20:51:18Z","message":"request blocked"}',
    '{"level":"warn","component":"pipelock","event":"blocked","method":"CONNECT","target":"blocked.test:443",'
    '"request_id":"req-2","scanner":"allowlist","reason":"domain not in allowlist: blocked.test",'
    '"time":"2026-12-05T20:51:18Z","message":"request blocked"}',
    '{"level":"warn","component":"pipelock","event":"blocked","method":"CONNECT","target":"[fd00::5]:443",'
    '"request_id":"req-3","scanner":"ssrf","reason":"SSRF blocked: fd00::5 resolves to internal IP fd00::5",'
    '"time":"2026-12-05T20:51:19Z"}',
    '{"level":"warn","component":"pipelock","event":"blocked","method":"GET","url":"http://plain.test/latest",'
    '"request_id":"req-4","scanner":"ssrf","reason":"SSRF blocked: plain.test resolves to internal IP '
    '169.254.169.254","time":"2026-12-05T20:51:42Z","message":"request blocked"}',
    '{"level":"warn","component":"pipelock","event":"body_dlp","method":"POST",'
    '"url":"http://api.lab.test/v1/messages?beta=true","action":"block","request_id":"req-5","match_count":1,'
    '"patterns":["BIP-39 Seed Phrase"],"time":"2026-12-05T20:49:25Z","message":"request body DLP scan hit"}',
    '{"level":"warn","component":"pipelock","event":"header_dlp","method":"GET","url":"http://allowed.test/h",'
    '"header":"Authorization","action":"block","request_id":"req-6","patterns":["GitHub Token"],'
    '"time":"2026-12-05T20:52:24Z","message":"request header DLP scan hit"}',
    '{"level":"warn","component":"pipelock","event":"blocked","method":"POST",'
    '"url":"http://allowed.test/[redacted]","request_id":"req-7","scanner":"body_dlp",'
    '"reason":"request body exceeds max_body_bytes (5242880)","time":"2026-12-05T20:52:24Z"}',
    '{"level":"warn","component":"pipelock","event":"sni_mismatch","connect_host":"allowed.test",'
    '"sni_host":"blocked.test","request_id":"req-8","category":"mismatch","time":"2026-12-05T20:52:44Z",'
    '"message":"SNI verification failed"}',
    '{"level":"warn","component":"pipelock","event":"sni_mismatch","connect_host":"git.allowed.test",'
    '"sni_host":"","request_id":"req-9","category":"timeout","time":"2026-12-05T20:52:49Z"}',
    '{"level":"error","component":"pipelock","event":"error","method":"CONNECT","target":"allowed.test:8443",'
    '"request_id":"req-10","error":"dial tcp 172.27.0.2:8443: connect: protocol not available",'
    '"time":"2026-12-05T20:51:24Z","message":"request error"}',
    '{"level":"error","component":"pipelock","event":"error","method":"GET","url":"http://allowed.test:8080/",'
    '"request_id":"req-11","error":"Get \\"http://allowed.test:8080/\\": dial tcp 172.27.0.2:8080: connect: '
    'protocol not available","time":"2026-12-05T20:51:24Z","message":"request error"}',
    '{"level":"error","component":"pipelock","event":"error","method":"CONNECT","target":"meta.test:443",'
    '"request_id":"req-12","error":"dial tcp 169.254.169.254:443: connect: protocol not available",'
    '"time":"2026-12-05T20:52:05Z","message":"request error"}',
    '{"level":"error","component":"pipelock","event":"error","method":"CONNECT","target":"down.test:443",'
    '"request_id":"req-13","error":"dial tcp 172.27.0.9:443: connect: connection refused",'
    '"time":"2026-12-05T20:51:25Z","message":"request error"}',
    '{"level":"info","component":"pipelock","event":"tunnel_open","target":"api.anthropic.com:443",'
    '"request_id":"req-14","time":"2026-12-05T20:52:51Z","message":"tunnel opened"}',
    '{"level":"info","component":"pipelock","event":"tunnel_close","target":"api.anthropic.com:443",'
    '"request_id":"req-14","total_bytes":1870,"time":"2026-12-05T20:52:52Z","message":"tunnel closed"}',
    '{"level":"info","component":"pipelock","event":"forward_http","method":"GET",'
    '"url":"http://allowed.test/y","request_id":"req-15","status_code":200,'
    '"time":"2026-12-05T20:52:05Z","message":"forward proxy request"}',
    # "warn": the finding and the request it let through, under one request id.
    '{"level":"warn","component":"pipelock","event":"header_dlp","method":"GET","url":"http://allowed.test/w",'
    '"header":"Authorization","action":"warn","request_id":"req-16","patterns":["GitHub Token"],'
    '"time":"2026-12-05T20:53:00Z"}',
    '{"level":"info","component":"pipelock","event":"forward_http","method":"GET",'
    '"url":"http://allowed.test/w","request_id":"req-16","status_code":200,'
    '"time":"2026-12-05T20:53:00Z","message":"forward proxy request"}',
    "Pipelock v2.3.0 starting",
    "{not json",
])  # fmt: skip


def test_pipelock_refusals_of_every_kind_are_events() -> None:
    events = read_pipelock_log(PIPELOCK_LOG)
    refused = [(e.host, e.port, e.reason) for e in events if not e.allowed]
    assert refused == [
        ("blocked.test", None, "host_not_allowed"),
        ("blocked.test", 443, "host_not_allowed"),
        ("fd00::5", 443, "private_address"),
        ("plain.test", None, "metadata_address"),
        ("api.lab.test", None, "secret_in_request"),
        ("allowed.test", None, "secret_in_request"),
        ("allowed.test", None, "body_not_scanned"),
        ("blocked.test", None, "sni_not_allowed"),  # the name the client asked for in its TLS
        ("git.allowed.test", None, "sni_unverified"),
        ("allowed.test", 8443, "port_not_allowed"),  # refused by the floor
        ("allowed.test", 8080, "port_not_allowed"),
        ("meta.test", 443, "metadata_address"),
    ]
    assert [(e.host, e.port, e.warning, e.failure) for e in events if e.allowed] == [
        ("down.test", 443, "", "connection_refused"),  # let through; the far end refused it
        ("api.anthropic.com", 443, "", ""),
        ("allowed.test", None, "", ""),
        ("allowed.test", None, "secret_in_request", ""),
    ]
    assert events[0].ts == datetime(2026, 12, 5, 20, 51, 18, tzinfo=UTC).timestamp()


def test_a_pipelock_warning_read_alone_is_an_allowed_request_with_its_warning() -> None:
    # `egress --follow` reads line by line: the finding comes before its request.
    (finding, passed) = [line for line in PIPELOCK_LOG.splitlines() if '"req-16"' in line]
    assert [(e.allowed, e.warning) for e in read_pipelock_log(finding)] == [(True, "secret_in_request")]
    assert [(e.allowed, e.warning) for e in read_pipelock_log(passed)] == [(True, "")]


def test_summary_counts_and_gives_each_refusal_its_reason() -> None:
    report = summarize(read_pipelock_log(PIPELOCK_LOG))
    assert report.refused[:3] == (("blocked.test", 3), ("allowed.test", 2), ("[fd00::5]", 1))
    lines = render_report(report)
    assert lines[0] == "allowed : allowed.test (x2), api.anthropic.com"
    assert lines[1] == "failed  : down.test: connection_refused (the host refused the connection)"
    assert "          blocked.test: host_not_allowed (host not in the allowlist) x2" in lines
    assert "          allowed.test:8443: port_not_allowed (port not allowed)" in lines
    assert "          meta.test: metadata_address (the cloud metadata address)" in lines
    assert any(line.startswith("          api.lab.test: secret_in_request") for line in lines)
    assert lines[-1] == (
        "warned  : allowed.test: secret_in_request (a secret-shaped token in a plain-HTTP request)"
    )


def test_odd_ports_are_shown_and_nothing_is_nothing() -> None:
    report = summarize(
        [EgressEvent("a.test", 8443, False, "port_not_allowed"), EgressEvent("a.test", 443, True)]
    )
    assert render_report(report)[:2] == ["allowed : a.test", "refused : a.test:8443"]
    assert render_report(summarize([])) == ["allowed : (nothing)", "refused : (nothing)"]


def test_three_outcomes_each_with_its_words() -> None:
    events = [
        EgressEvent("ok.test", 443, True, method="CONNECT"),
        EgressEvent("down.test", 443, True, method="CONNECT", failure="connection_refused"),
        EgressEvent("gone.test", 80, True, method="GET", failure="name_not_resolved"),
        EgressEvent("gone.test", 80, True, method="GET", failure="name_not_resolved"),
        EgressEvent("no.test", 443, False, "host_not_allowed", "CONNECT"),
    ]
    assert [e.outcome for e in events] == ["answered", "failed", "failed", "failed", "refused"]
    assert render_report(summarize(events)) == [
        "allowed : ok.test",
        "failed  : gone.test: name_not_resolved "
        "(the name did not resolve to an address the proxy could use) x2",
        "          down.test: connection_refused (the host refused the connection)",
        "refused : no.test",
        "          no.test: host_not_allowed (host not in the allowlist)",
    ]
    assert event_line(events[1]) == (
        "--:--:--  failed   CONNECT down.test  connection_refused (the host refused the connection)"
    )
    # Only the hosts that answered are "allowed": a host that was down is not hidden there.
    assert render_report(summarize(events[1:2]))[0] == "allowed : (nothing)"


def test_warnings_are_reported_beside_what_passed() -> None:
    lines = render_report(summarize([EgressEvent("a.test", 80, True, warning="secret_in_request")]))
    assert lines[-1].startswith("warned  : a.test: secret_in_request")


def test_events_are_written_as_json_lines() -> None:
    text = events_jsonl([EgressEvent("a.test", 443, False, "host_not_allowed", "CONNECT", 1.5)])
    assert json.loads(text) == {"host": "a.test", "port": 443, "allowed": False, "reason": "host_not_allowed",
                                "method": "CONNECT", "ts": 1.5, "warning": "", "failure": ""}  # fmt: skip


def test_durations() -> None:
    assert [format_duration(s) for s in (0.4, 59, 61, 3600 + 120)] == ["0s", "59s", "1m 01s", "1h 02m"]


@pytest.mark.parametrize(
    ("event", "line"),
    [
        pytest.param(
            EgressEvent("blocked.test", 443, False, "host_not_allowed", "CONNECT", None),
            "--:--:--  refused  CONNECT blocked.test  host_not_allowed (host not in the allowlist)",
            id="refused",
        ),
        pytest.param(
            EgressEvent("api.lab.test", 8443, True, "", "CONNECT", None),
            "--:--:--  allowed  CONNECT api.lab.test:8443",
            id="allowed-odd-port",
        ),
        pytest.param(
            EgressEvent("allowed.test", 80, True, "", "GET", None, "secret_in_request"),
            "--:--:--  allowed  GET allowed.test  warned: secret_in_request "
            "(a secret-shaped token in a plain-HTTP request)",
            id="warned",
        ),
    ],
)
def test_event_line(event: EgressEvent, line: str) -> None:
    assert event_line(event) == line


def test_event_line_shows_the_local_time() -> None:
    ts = time.mktime((2024, 5, 1, 13, 4, 5, 0, 0, -1))
    assert event_line(EgressEvent("a.test", 443, True, method="CONNECT", ts=ts)).startswith(
        "13:04:05  allowed"
    )


class RecordingDocker(DockerEngine):
    """The Docker engine, recording what it would run on the terminal."""

    ran: tuple[str, ...] = ()

    def foreground(
        self, *args: str, env: Mapping[str, str] | None = None, registry: bool = False,
        pass_fds: Sequence[int] = (),
    ) -> int:  # fmt: skip
        self.ran = args
        return 0


def shell_args(
    monkeypatch: pytest.MonkeyPatch, container: str, command: list[str], tty: bool
) -> tuple[str, ...]:
    """What `claude-bottle shell` runs through the Docker engine for a running bottle."""
    engine = RecordingDocker(binary="docker")
    monkeypatch.setattr(shell, "locate", lambda _settings: engine)
    monkeypatch.setattr(shell, "find_bottle", lambda _engine, _target: {"container": container})
    monkeypatch.setattr(sys.stdin, "isatty", lambda: tty)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    assert shell.run(argparse.Namespace(target="agent", command=command, settings=Settings())) == 0
    return engine.ran


def test_shell_runs_as_the_agent_user(monkeypatch: pytest.MonkeyPatch) -> None:
    assert shell_args(monkeypatch, "claude-bottle-coder", [], tty=True) == (
        "exec", "-it", "--user", "node", "claude-bottle-coder", "bash", "-l",
    )  # fmt: skip
    assert shell_args(monkeypatch, "c", ["id", "-un"], tty=False) == (
        "exec", "-i", "--user", "node", "c", "id", "-un",
    )  # fmt: skip
