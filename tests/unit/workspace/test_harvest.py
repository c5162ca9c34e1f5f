"""What the CLI reads stays bounded: the folder harvest compares metadata before
it moves a byte, and a skill folder has a size cap (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_bottle.bottle.home import _folder_entries
from claude_bottle.errors import UsageError
from claude_bottle.workspace.harvest import changed_files


def test_only_files_whose_size_or_mtime_changed_come_out() -> None:
    now = {
        "big.bin": ("f", 2 << 30, 1000),  # unchanged: never copied, whatever its size
        "edit.txt": ("f", 5, 2000),
        "same-size.txt": ("f", 3, 3001),
        "new.txt": ("f", 4, 3000),
        "pkg": ("d", 4096, 3000),
        "link": ("l", 7, 3000),
    }
    snapshot = {"big.bin": (2 << 30, 1000), "edit.txt": (9, 2000), "same-size.txt": (3, 3000),
                "gone.txt": (1, 1000)}  # fmt: skip
    assert changed_files(now, snapshot) == (["edit.txt", "same-size.txt"], ["new.txt"], ["gone.txt"])


def test_a_skill_folder_over_its_cap_is_refused_before_reading(tmp_path: Path) -> None:
    skill = tmp_path / "big-skill"
    skill.mkdir()
    (skill / "SKILL.md").write_text("# big\n")
    with (skill / "weights.bin").open("wb") as f:
        f.truncate(1 << 30)  # sparse: reading it would cost 1 GiB of memory
    with pytest.raises(UsageError) as caught:
        _folder_entries(skill, ".claude/skills/big-skill")
    assert str(caught.value) == f"folder {skill} holds more than 32 MiB (reached at weights.bin)"
