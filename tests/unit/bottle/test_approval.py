"""Approving a host while a bottle runs (bottle/approval.py), against an engine
that records its calls: the configuration the sidecar is given, what is
recorded, and the manifest change of `--always` (pure; no engine)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from claude_bottle.bottle.approval import ApprovalError, approve
from claude_bottle.errors import UsageError
from claude_bottle.manifest.edit import (
    ManifestChangeRefused,
    plan_allow_always,
    with_allowed_host,
    write_trusted,
)
from claude_bottle.manifest.locate import BUILTIN_SOURCE
from claude_bottle.manifest.parse import load_manifest_file
from claude_bottle.manifest.trust import is_trusted, record_trust
from claude_bottle.paths import HostPaths
from claude_bottle.proxies.base import ProxySpec
from claude_bottle.proxies.pipelock import CONFIG_PATH
from claude_bottle.proxies.squid import PARSE_REFUSES, RELOAD_SCRIPT, RELOADED, render_squid_config
from claude_bottle.workspace.record import SessionRecord
from claude_bottle.workspace.session_folders import SessionFolder
from tests.fakes import FakeEngine
from tests.records import record_problems

ROOT = Path(__file__).resolve().parents[3]
SPEC = ProxySpec(allow=("a.test",), internal=("git.corp.test",))


def sidecar_engine(status: int = 0, reloads: bool = True) -> FakeEngine:
    """The engine as far as an approval uses it: exec (Squid: the reload script's
    status and words), copy_in and logs (Pipelock: a reload logged, unless not)."""
    engine = FakeEngine()
    engine.exec_status = status
    engine.exec_stdout = RELOADED + "\n" if status == 0 else ""
    engine.exec_stderr = "FATAL: Bungled line 3\n"
    engine.log = '{"event":"startup"}\n'

    def reloaded() -> None:
        if reloads:
            engine.log += '{"level":"info","event":"config_reload","status":"success"}\n'

    engine.after_copy_in = reloaded
    return engine


def session_record(tmp_path: Path, proxy: str = "squid", spec: ProxySpec = SPEC) -> SessionFolder:
    folder = SessionFolder(tmp_path / "sessions" / "s1").create()
    SessionRecord.in_folder(folder.path).append("session", {
        "session": "s1", "agent": "a", "bottle": "b", "started": "2026-01-01T00:00:00.000Z",
        "claude_bottle": "0", "plan": {}, "by": {"user": "u", "host": "h", "pid": 1, "via": "run"},
        "manifest": {"path": "/m", "sha256": "", "trusted": True, "needs_trust": False},
        "engine": {"name": "docker", "context": "", "endpoint": ""},
        "proxy": {"name": proxy, "spec": spec.to_json()},
    })  # fmt: skip
    return folder


def allowed_hosts_line(config: str) -> str:
    return next(line for line in config.splitlines() if line.startswith("acl allowed_hosts "))


def test_an_approved_host_is_rendered_by_the_allowlists_own_rules() -> None:
    approved = SPEC.approving(("later.test",))
    # Exactly what a manifest listing it in egress.allow would give: the same rules in the same order.
    as_if_listed = ProxySpec(allow=("a.test", "later.test"), internal=("git.corp.test",))
    assert render_squid_config(approved) == render_squid_config(as_if_listed)

    def rules(spec: ProxySpec) -> list[str]:
        return [line for line in render_squid_config(spec).splitlines() if line.startswith("http_access")]

    assert rules(approved) == rules(SPEC)
    assert SPEC.approving(("a.test",)) == SPEC  # nothing twice


def test_the_entrypoint_and_a_live_reload_refuse_the_same_words() -> None:
    entrypoint = (ROOT / "src" / "claude_bottle" / "data" / "squid" / "entrypoint.sh").read_text()
    (pattern,) = re.findall(r"grep -qE '([^']+)'", entrypoint)
    assert pattern == PARSE_REFUSES


def test_approve_gives_the_sidecar_the_new_configuration_and_records_it(tmp_path: Path) -> None:
    folder = session_record(tmp_path)
    engine = sidecar_engine()
    outcome = approve(engine, "proxy", folder, "Later.Test.", via="allow")
    assert (outcome.host, outcome.already) == ("later.test", False)
    ((argv, config),) = engine.execs
    assert argv == ("sh", "-c", RELOAD_SCRIPT)
    assert config == render_squid_config(SPEC.approving(("later.test",)))
    assert approve(engine, "proxy", folder, "later.test").already
    assert approve(engine, "proxy", folder, "git.corp.test").already
    assert len(engine.execs) == 1
    approve(engine, "proxy", folder, "other.test", via="egress --follow")
    assert allowed_hosts_line(engine.execs[-1][1]).endswith("dstdomain -n a.test later.test other.test")
    record = SessionRecord.in_folder(folder.path)
    approvals = [e["data"] for e in record.of_kind("approval")]
    assert [(a["host"], a["scope"], a["by"]["via"]) for a in approvals] == [
        ("later.test", "session", "allow"),
        ("other.test", "session", "egress --follow"),
    ]
    assert record_problems(record.path) == []


def test_a_configuration_the_sidecar_refuses_is_not_recorded(tmp_path: Path) -> None:
    folder = session_record(tmp_path)
    refused = r"did not take the new allowlist \(exit 65\): FATAL: Bungled line 3"
    with pytest.raises(ApprovalError, match=refused):
        approve(sidecar_engine(status=65), "proxy", folder, "later.test")
    assert SessionRecord.in_folder(folder.path).of_kind("approval") == []


@pytest.mark.parametrize("host", ["*.com", "https://x.test", "x.test:443", "*", ""])
def test_only_what_egress_allow_accepts_can_be_approved(tmp_path: Path, host: str) -> None:
    with pytest.raises(UsageError, match="cannot be approved"):
        approve(sidecar_engine(), "proxy", session_record(tmp_path), host)


def test_pipelock_is_given_its_file_and_its_log_says_it_reloaded(tmp_path: Path) -> None:
    folder = session_record(tmp_path, "pipelock")
    engine = sidecar_engine()
    approve(engine, "proxy", folder, "later.test")
    ((dest, files),) = engine.copied
    assert dest == "/"
    config = json.loads(files[CONFIG_PATH.lstrip("/")])
    assert config["api_allowlist"] == ["a.test", "later.test", "git.corp.test"]
    assert config["trusted_domains"] == ["git.corp.test"]  # never widened: Pipelock refuses that live
    silent = sidecar_engine(reloads=False)
    folder2 = session_record(tmp_path / "2", "pipelock")
    with pytest.raises(ApprovalError, match="did not say it took the new allowlist"):
        approve(silent, "proxy", folder2, "later.test")


MANIFEST: dict[str, Any] = {
    "bottles": {"dev": {"egress": {"allow": ["a.test"]}}},
    "agents": {"me": {"bottle": "dev"}},
}


def test_with_allowed_host_adds_it_to_its_bottle_alone() -> None:
    text = json.dumps({**MANIFEST, "bottles": {**MANIFEST["bottles"], "other": {}}}, indent=2) + "\n"
    changed = json.loads(with_allowed_host(text, "dev", "b.test"))
    assert changed["bottles"]["dev"]["egress"]["allow"] == ["a.test", "b.test"]
    assert changed["bottles"]["other"] == {}
    assert json.loads(with_allowed_host(text, "other", "b.test"))["bottles"]["other"] == {
        "egress": {"allow": ["b.test"]}
    }
    with pytest.raises(ManifestChangeRefused, match="no bottle 'nope'"):
        with_allowed_host(text, "nope", "b.test")


def test_always_changes_only_trusted_content_and_trusts_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = tmp_path / "project" / "claude-bottle.json"
    path.parent.mkdir()
    path.write_text(json.dumps(MANIFEST, indent=2) + "\n")
    environ = HostPaths.from_environ({"XDG_STATE_HOME": str(tmp_path / "state"), "HOME": str(tmp_path)})
    with pytest.raises(ManifestChangeRefused, match="is not trusted yet"):
        plan_allow_always(str(path), "dev", "b.test", environ)
    record_trust(load_manifest_file(path, environ.home), environ)
    change = plan_allow_always(str(path), "dev", "b.test", environ)
    assert '+          "b.test"\n' in change.diff
    write_trusted(change, environ)
    manifest = load_manifest_file(path)
    assert manifest.bottles["dev"].egress.allow == ("a.test", "b.test")
    assert is_trusted(manifest, environ)
    # Someone edits it after the diff was made: nothing is written.
    stale = plan_allow_always(str(path), "dev", "c.test", environ)
    path.write_text(path.read_text() + "\n")
    with pytest.raises(ManifestChangeRefused, match="changed since the diff was shown"):
        write_trusted(stale, environ)
    with pytest.raises(ManifestChangeRefused, match="changed since you trusted it"):
        plan_allow_always(str(path), "dev", "c.test", environ)
    with pytest.raises(ManifestChangeRefused, match="built-in manifest"):
        plan_allow_always(BUILTIN_SOURCE, "default", "c.test", environ)


def test_a_record_without_its_start_or_its_proxy_spec_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("claude_bottle.bottle.approval.START_WAIT", 0.2)
    folder, older = SessionFolder(tmp_path / "s2").create(), SessionFolder(tmp_path / "s3").create()
    event = {"host": "a.test", "port": 443, "allowed": True, "outcome": "answered", "reason": "",
             "failure": "", "method": "CONNECT", "ts": None, "warning": ""}  # fmt: skip
    SessionRecord.in_folder(folder.path).append("egress", event)
    SessionRecord.in_folder(older.path).append("session", {"session": "s3", "bottle": "b"})  # an older CLI's
    try:
        with pytest.raises(ApprovalError, match="has no start yet"):
            approve(sidecar_engine(), "proxy", folder, "later.test")
        with pytest.raises(ApprovalError, match="does not say how its proxy was configured"):
            approve(sidecar_engine(), "proxy", older, "later.test")
    finally:  # not records this version writes: kept out of the run's check of every record
        for made in (folder, older):
            SessionRecord.in_folder(made.path).path.unlink()
    with pytest.raises(ApprovalError, match="has no record on this machine"):
        approve(sidecar_engine(), "proxy", SessionFolder(tmp_path / "none"), "later.test")
