"""A session's record (workspace/record.py): hash-chained JSON Lines, checked by
`sessions verify`, valid against the schema in the repository (pure, no engine)."""

from __future__ import annotations

import itertools
import json
import multiprocessing
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from claude_bottle.cli.main import main
from claude_bottle.workspace.record import GENESIS, SessionRecord, canonical, entry_hash, verify
from claude_bottle.workspace.record_schema import SCHEMA
from tests.records import record_problems

ROOT = Path(__file__).resolve().parents[3]
BY = {"user": "u", "host": "h", "pid": 1, "via": "run"}
SPEC = {"allow": ["a.test"], "internal": [], "ssh_routes": [], "dlp": "block", "sni": True,
        "credential_hosts": [], "plain_credential_hosts": []}  # fmt: skip


def a_session(record: SessionRecord) -> None:
    record.append("session", {
        "session": "abc123", "agent": "worker", "bottle": "lab", "started": "2026-01-02T03:04:05.000Z",
        "claude_bottle": "0.1.0", "plan": {"agent": "worker"},
        "manifest": {"path": "/p/claude-bottle.json", "sha256": "ab" * 32, "trusted": True,
                     "needs_trust": True},
        "engine": {"name": "docker", "context": "default", "endpoint": "unix:///var/run/docker.sock"},
        "by": BY,
        "proxy": {"name": "squid", "spec": SPEC},
    })  # fmt: skip
    record.append("containers", {
        "agent": {"name": "claude-bottle-worker", "image": "claude-bottle:latest",
                  "image_id": "sha256:" + "1" * 64},
        "sidecar": {"name": "p", "image": "claude-bottle-squid:latest", "image_id": "sha256:" + "2" * 64,
                    "proxy": "squid"},
    })  # fmt: skip
    record.append("approval", {"host": "later.test", "scope": "session", "by": {**BY, "via": "allow"},
                               "proxy": "squid"})  # fmt: skip
    record.extend([
        ("egress", {"host": "later.test", "port": 443, "allowed": True, "outcome": "answered", "reason": "",
                    "failure": "", "method": "CONNECT", "ts": 1.5, "warning": ""}),
        ("transcripts", {"files": [{"path": "transcripts/a.jsonl", "size": 3, "sha256": "c" * 64}]}),
        ("work", {"kind": "none", "branch": None, "commits": 0, "changed": [], "added": [], "deleted": [],
                  "files": []}),
        ("end", {"ended": "2026-01-02T03:05:00.000Z", "status": 0,
                 "counts": {"answered": 1, "failed": 0, "refused": 0, "approvals": 1}}),
    ])  # fmt: skip


@pytest.fixture
def record(tmp_path: Path) -> SessionRecord:
    made = SessionRecord(tmp_path / "sessions" / "abc123" / "record.jsonl")
    made.path.parent.mkdir(parents=True)
    a_session(made)
    return made


def test_each_entry_holds_the_hash_of_the_one_before(record: SessionRecord) -> None:
    entries = record.entries()
    assert [e["kind"] for e in entries] == [
        "session", "containers", "approval", "egress", "transcripts", "work", "end",
    ]  # fmt: skip
    assert [e["seq"] for e in entries] == list(range(7))
    assert entries[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(entries))
    assert all(entry_hash(e) == e["hash"] for e in entries)
    text = record.path.read_text()
    assert text == "".join(canonical(e) + "\n" for e in entries)
    verdict = verify(record.path.read_bytes())
    assert (verdict.ok, verdict.entries, verdict.head, verdict.ended) == (True, 7, entries[-1]["hash"], True)


def test_one_byte_changed_anywhere_breaks_it(record: SessionRecord) -> None:
    data = record.path.read_bytes()
    assert verify(data).ok
    for i in range(len(data)):
        for new in {data[i] ^ 0x01, ord(" "), ord("\n")} - {data[i]}:
            changed = data[:i] + bytes([new]) + data[i + 1 :]
            assert not verify(changed).ok, f"byte {i} changed to {new!r} went unnoticed"


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        pytest.param(lambda lines: lines[:3] + lines[4:], "line 4: entry number 4, expected 3", id="removed"),
        pytest.param(lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], "entry number", id="moved"),
        pytest.param(lambda lines: lines[:-1], "", id="end-cut-off"),
    ],
)  # fmt: skip
def test_removed_and_moved_entries_break_it(record: SessionRecord, edit: object, problem: str) -> None:
    lines = record.path.read_text().splitlines(keepends=True)
    verdict = verify("".join(edit(lines)).encode())  # type: ignore[operator]
    if problem:
        assert not verdict.ok
        assert problem in verdict.problems[0]
    else:  # a chain cut at its end still holds, but says it has no end
        assert verdict.ok
        assert not verdict.ended


def test_an_entry_recomputed_by_hand_still_breaks_the_next_one(record: SessionRecord) -> None:
    entries = record.entries()
    entries[3]["data"]["allowed"] = False
    entries[3]["hash"] = entry_hash(entries[3])  # a forger recomputed this one, not the rest
    text = "".join(canonical(e) + "\n" for e in entries)
    assert "line 5: does not follow the entry before it" in verify(text.encode()).problems[0]


def _append(path: str, n: int) -> None:
    for i in range(n):
        event = {"host": f"h{i}.test", "port": 443, "allowed": True, "outcome": "answered", "reason": "",
                 "failure": "", "method": "CONNECT", "ts": None, "warning": ""}  # fmt: skip
        SessionRecord(Path(path)).append("egress", event)


def test_writers_in_several_processes_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "record.jsonl"
    procs = [
        multiprocessing.get_context("fork").Process(target=_append, args=(str(path), 40)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    verdict = verify(path.read_bytes())
    assert verdict.ok, verdict.problems
    assert verdict.entries == 160


def test_every_entry_is_valid_against_the_schema(record: SessionRecord) -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert record_problems(record.path) == []
    bad = json.loads(record.path.read_text().splitlines()[0])
    del bad["data"]["manifest"]
    assert any("'manifest' is a required property" in e.message
               for e in Draft202012Validator(SCHEMA).iter_errors(bad))  # fmt: skip


def test_the_schema_in_the_repository_is_the_one_the_cli_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == SCHEMA
    assert json.loads((ROOT / "schemas" / "session-record-v1.schema.json").read_text()) == SCHEMA


def test_sessions_show_and_verify(
    record: SessionRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    # data_root() is XDG_DATA_HOME/claude-bottle/sessions: put the record there.
    root = tmp_path / "data" / "claude-bottle" / "sessions" / "abc123"
    root.mkdir(parents=True)
    (root / "record.jsonl").write_bytes(record.path.read_bytes())
    assert main(["sessions", "verify", "abc"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("session abc123: 7 entries, chain intact, head sha256:")
    assert main(["sessions", "show", "abc123", "--json"]) == 0
    assert capsys.readouterr().out == record.path.read_text()
    assert main(["sessions", "show", "abc123"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[2].endswith("approval    later.test for this session by u@h (allow, pid 1)")
    assert shown[3].endswith("egress      answered CONNECT later.test")
    # One byte changed: verify says where, and fails.
    data = bytearray((root / "record.jsonl").read_bytes())
    data[data.index(b"later.test")] = ord("L")
    (root / "record.jsonl").write_bytes(bytes(data))
    try:
        assert main(["sessions", "verify", "abc123"]) == 1
        err = capsys.readouterr().err
        assert "the record does NOT hold: line 3: its content does not match its hash" in err
    finally:
        (root / "record.jsonl").unlink()  # the run's own check of every record looks here too
    assert main(["sessions", "verify", "nothing"]) == 1
    assert "no saved session 'nothing'" in capsys.readouterr().err
