from __future__ import annotations

from claude_bottle.audit import format_duration, read_audit_log, render_report

# Lines as Pipelock 2.3 writes them (fields trimmed).
LOG = "\n".join([
    '{"level":"info","component":"pipelock","event":"startup","listen":"0.0.0.0:8888"}',
    '{"level":"warn","event":"blocked","method":"GET","url":"http://blocked.test/x","scanner":"allowlist",'
    '"reason":"domain not in allowlist: blocked.test"}',
    '{"level":"warn","event":"blocked","method":"CONNECT","target":"blocked.test:443","scanner":"allowlist",'
    '"reason":"domain not in allowlist: blocked.test"}',
    '{"level":"warn","event":"blocked","method":"CONNECT","target":"[::1]:443","reason":"SSRF"}',
    '{"level":"info","event":"tunnel_open","target":"api.anthropic.com:443"}',
    '{"level":"info","event":"tunnel_close","target":"api.anthropic.com:443","total_bytes":10}',
    '{"level":"info","event":"forward_http","method":"GET","url":"http://allowed.test/y","status_code":200}',
    "Pipelock v0.1.0-dev starting",
    "{not json",
])  # fmt: skip


def test_blocked_and_allowed_hosts_are_counted() -> None:
    report = read_audit_log(LOG)
    assert report.blocked == (("blocked.test", 2), ("::1", 1))
    assert report.allowed == (("api.anthropic.com", 1), ("allowed.test", 1))
    assert dict(report.reasons)["blocked.test"] == "domain not in allowlist: blocked.test"


def test_rendered_report() -> None:
    lines = render_report(read_audit_log(LOG))
    assert lines[0] == "allowed : api.anthropic.com, allowed.test"
    assert lines[1] == "blocked : blocked.test (x2), ::1"
    assert render_report(read_audit_log("")) == ["allowed : (nothing)", "blocked : (nothing)"]


def test_durations() -> None:
    assert [format_duration(s) for s in (0.4, 59, 61, 3600 + 120)] == [
        "0s",
        "59s",
        "1m 01s",
        "1h 02m",
    ]
