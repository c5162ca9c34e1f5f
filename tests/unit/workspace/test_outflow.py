"""Issue 20: what comes out of a bottle is bounded, lands sparse and hands nothing
executable to the host's tools; the host files the CLI reads are capped (pure
parts; tests/engine/test_outflow.py takes them through a real bottle)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from claude_bottle.errors import UsageError
from claude_bottle.settings import Settings
from claude_bottle.workspace.harvest import HarvestResult
from claude_bottle.workspace.outflow import Budget, Counted, OverCap, land, size_setting, tool_config_part
from claude_bottle.workspace.source import scan_workspace


@pytest.mark.parametrize(
    ("rel", "part"),
    [
        (".git/config", ".git"),
        ("deep/er/.GIT/hooks/post-checkout", ".GIT"),
        ("a/.Git", ".Git"),
        (".g\u200cit/config", ".g\u200cit"),  # HFS+ ignores the zero-width non-joiner
        (".git./config", ".git."),  # NTFS drops the trailing dot
        ("GIT~1/config", "GIT~1"),
        (".hg/hgrc", ".hg"),
        ("x/.svn/wc.db", ".svn"),
        ("_darcs/prefs", "_darcs"),
        ("src/main.py", None),
        ("a.git/x", None),
        (".github/workflows/ci.yml", None),
        ("gitignore", None),
    ],
)
def test_version_control_is_found_however_it_is_spelt(rel: str, part: str | None) -> None:
    assert tool_config_part(rel) == part


def test_a_budget_admits_within_both_caps_and_says_what_it_left(tmp_path: Path) -> None:
    budget = Budget(file_max=100, left=150)
    assert budget.admit("a.txt", 100)
    assert not budget.admit("big.bin", 101)
    assert not budget.admit("b.txt", 60)
    assert budget.admit("c.txt", 50)
    assert budget.left == 0
    assert budget.notes == [
        "big.bin (101 bytes) is over the 100 bytes one file may bring out (CLAUDE_BOTTLE_HARVEST_FILE_MAX): "
        "left in the bottle",
        "b.txt (60 bytes) is over what this session may still bring out (50 bytes left of "
        "CLAUDE_BOTTLE_HARVEST_MAX): left in the bottle",
    ]


def test_the_caps_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    budget = Budget.from_settings(Settings.from_environ())
    assert (budget.file_max, budget.left) == (1 << 30, 4 << 30)
    monkeypatch.setenv("CLAUDE_BOTTLE_HARVEST_FILE_MAX", "10m")
    monkeypatch.setenv("CLAUDE_BOTTLE_HARVEST_MAX", "2g")
    budget = Budget.from_settings(Settings.from_environ())
    assert (budget.file_max, budget.left) == (10 << 20, 2 << 30)
    with pytest.raises(UsageError) as bad:
        size_setting("lots", "CLAUDE_BOTTLE_HARVEST_MAX", 1)
    assert str(bad.value) == "CLAUDE_BOTTLE_HARVEST_MAX must be a size like 2g or 512m, got 'lots'"


def test_zeros_land_as_a_hole_and_nothing_lands_executable(tmp_path: Path) -> None:
    dest = tmp_path / "t.jsonl"
    stream = io.BytesIO(b"head" + bytes(300 << 20) + b"tail")
    assert land(stream, dest, 1 << 30) == (300 << 20) + 8
    st = dest.stat()
    assert st.st_size == (300 << 20) + 8
    assert st.st_blocks * 512 < 4 << 20  # 300 MiB of zeros cost no disk
    assert dest.read_bytes()[:4] == b"head"
    assert dest.read_bytes()[-4:] == b"tail"
    assert st.st_mode & 0o777 == 0o644


def test_a_stream_longer_than_its_cap_stops_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    with pytest.raises(OverCap):
        land(io.BytesIO(b"x" * 5000), dest, 4096)
    assert not dest.exists()
    counted = Counted(io.BytesIO(b"y" * 100), 64)
    assert counted.read(64) == b"y" * 64
    with pytest.raises(OverCap):
        counted.read(1)


def test_the_summary_lists_what_stayed_in_the_bottle_and_lost_exec_bits(tmp_path: Path) -> None:
    result = HarvestResult(
        "files", folder=tmp_path, added=("run.sh",), refused=(".git/config", ".git/HEAD"),
        executables=("run.sh",), notes=("big.bin (2 GiB) is over ...",),
    )  # fmt: skip
    lines = result.summary_lines(tmp_path)
    assert (
        "          left in the bottle (version control a shell would read): .git/config, .git/HEAD" in lines
    )
    assert "          saved without their exec bits: run.sh" in lines
    assert lines[-1] == "limit   : big.bin (2 GiB) is over ..."
    branch = HarvestResult("branch", branch="bottle/a/s", commits=1).summary_lines(tmp_path)
    assert f"          look: git -C {tmp_path} log --stat -n 20 HEAD..bottle/a/s" in branch


# --- .claude-bottle-ignore ----------------------------------------------------------------


def test_the_ignore_file_is_read_as_a_file_of_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "keep.txt").write_text("k")
    (folder / "drop.tmp").write_text("d")
    (folder / ".claude-bottle-ignore").write_text("*.tmp\n")
    assert "drop.tmp" not in scan_workspace(folder).entries  # the positive control
    assert "keep.txt" in scan_workspace(folder).entries


@pytest.mark.parametrize("target", ["/dev/zero", "outside"])
def test_an_ignore_file_that_is_a_link_is_refused(tmp_path: Path, target: str) -> None:
    # Issue 20: it was read without a cap and through links (a link to /dev/zero
    # read forever; a link elsewhere read a file outside the folder).
    folder = tmp_path / "work"
    folder.mkdir()
    outside = tmp_path / "outside"
    outside.write_text("*\n")
    pointed = target if target.startswith("/") else str(outside)
    (folder / ".claude-bottle-ignore").symlink_to(pointed)
    with pytest.raises(UsageError) as refused:
        scan_workspace(folder)
    assert str(refused.value) == (
        f"cannot use .claude-bottle-ignore: {folder}/.claude-bottle-ignore is a symbolic link "
        f"(to {pointed}), not a file of its own"
    )


def test_an_ignore_file_over_its_cap_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    with (folder / ".claude-bottle-ignore").open("wb") as f:
        f.truncate((1 << 20) + 1)
    with pytest.raises(UsageError) as refused:
        scan_workspace(folder)
    assert str(refused.value) == (
        f"cannot use .claude-bottle-ignore: {folder}/.claude-bottle-ignore is larger than 1 MiB "
        f"({(1 << 20) + 1} bytes)"
    )
