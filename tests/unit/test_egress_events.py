"""The shared egress event model: Pipelock's log read into it, and the summary
every backend's events make (pure)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping

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

# Lines as Pipelock 2.3 writes them (fields trimmed).
PIPELOCK_LOG = "\n".join([
    '{"level":"info","component":"pipelock","event":"startup","listen":"0.0.0.0:8888"}',
    '{"level":"warn","event":"blocked","method":"GET","url":"http://blocked.test/x","scanner":"allowlist",'
    '"reason":"domain not in allowlist: blocked.test"}',
    '{"level":"warn","event":"blocked","method":"CONNECT","target":"blocked.test:443","scanner":"allowlist",'
    '"reason":"domain not in allowlist: blocked.test"}',
    '{"level":"warn","event":"blocked","method":"CONNECT","target":"[::1]:443","reason":"SSRF"}',
    '{"level":"warn","event":"body_dlp","method":"POST","url":"http://api.lab.test/v1/messages",'
    '"reason":"request body contains secret: BIP-39 Seed Phrase"}',
    '{"level":"warn","event":"header_dlp","method":"GET","url":"http://allowed.test/","reason":"header"}',
    '{"level":"info","event":"tunnel_open","target":"api.anthropic.com:443"}',
    '{"level":"info","event":"tunnel_close","target":"api.anthropic.com:443","total_bytes":10}',
    '{"level":"info","event":"forward_http","method":"GET","url":"http://allowed.test/y","status_code":200}',
    "Pipelock v0.1.0-dev starting",
    "{not json",
])  # fmt: skip


def test_pipelock_refusals_of_every_kind_are_events() -> None:
    events = read_pipelock_log(PIPELOCK_LOG)
    refused = [(e.host, e.port, e.reason) for e in events if not e.allowed]
    assert refused == [
        ("blocked.test", None, "host_not_allowed"),
        ("blocked.test", 443, "host_not_allowed"),
        ("::1", 443, "private_address"),
        ("api.lab.test", None, "secret_in_request"),
        ("allowed.test", None, "secret_in_request"),
    ]
    assert [(e.host, e.port) for e in events if e.allowed] == [
        ("api.anthropic.com", 443),
        ("allowed.test", None),
    ]


def test_summary_counts_and_gives_each_refusal_its_reason() -> None:
    report = summarize(read_pipelock_log(PIPELOCK_LOG))
    assert report.refused == (("blocked.test", 2), ("[::1]", 1), ("api.lab.test", 1), ("allowed.test", 1))
    lines = render_report(report)
    assert lines[0] == "allowed : api.anthropic.com, allowed.test"
    assert lines[1] == "refused : blocked.test (x2), [::1], api.lab.test, allowed.test"
    assert "          blocked.test: host_not_allowed (host not in the allowlist) x2" in lines
    assert any(line.startswith("          api.lab.test: secret_in_request") for line in lines)


def test_odd_ports_are_shown_and_nothing_is_nothing() -> None:
    report = summarize(
        [EgressEvent("a.test", 8443, False, "port_not_allowed"), EgressEvent("a.test", 443, True)]
    )
    assert render_report(report)[:2] == ["allowed : a.test", "refused : a.test:8443"]
    assert render_report(summarize([])) == ["allowed : (nothing)", "refused : (nothing)"]


def test_warnings_are_reported_beside_what_passed() -> None:
    lines = render_report(summarize([EgressEvent("a.test", 80, True, warning="secret_in_request")]))
    assert lines[-1].startswith("warned  : a.test: secret_in_request")


def test_events_are_written_as_json_lines() -> None:
    text = events_jsonl([EgressEvent("a.test", 443, False, "host_not_allowed", "CONNECT", 1.5)])
    assert json.loads(text) == {"host": "a.test", "port": 443, "allowed": False, "reason": "host_not_allowed",
                                "method": "CONNECT", "ts": 1.5, "warning": ""}  # fmt: skip


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
            "(a secret-shaped token in a plain-HTTP URL or header)",
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

    def foreground(self, *args: str, env: Mapping[str, str] | None = None, registry: bool = False) -> int:
        self.ran = args
        return 0


def shell_args(
    monkeypatch: pytest.MonkeyPatch, container: str, command: list[str], tty: bool
) -> tuple[str, ...]:
    """What `claude-bottle shell` runs through the Docker engine for a running bottle."""
    engine = RecordingDocker(binary="docker")
    monkeypatch.setattr(shell, "locate", lambda: engine)
    monkeypatch.setattr(shell, "find_bottle", lambda _engine, _target: {"container": container})
    monkeypatch.setattr(sys.stdin, "isatty", lambda: tty)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    assert shell.run(argparse.Namespace(target="agent", command=command)) == 0
    return engine.ran


def test_shell_runs_as_the_agent_user(monkeypatch: pytest.MonkeyPatch) -> None:
    assert shell_args(monkeypatch, "claude-bottle-coder", [], tty=True) == (
        "exec", "-it", "--user", "node", "claude-bottle-coder", "bash", "-l",
    )  # fmt: skip
    assert shell_args(monkeypatch, "c", ["id", "-un"], tty=False) == (
        "exec", "-i", "--user", "node", "c", "id", "-un",
    )  # fmt: skip
