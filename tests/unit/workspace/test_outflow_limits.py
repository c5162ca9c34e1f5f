"""What the harvest may bring out, at its edges (pure): a size setting of one
byte is a size, a file exactly at the limit lands, one byte more does not and
leaves nothing behind, and a bad setting names its variable."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from claude_bottle.errors import UsageError
from claude_bottle.settings import Settings
from claude_bottle.workspace.outflow import Budget, OverCap, land, size_setting


def test_the_smallest_size_is_one_byte() -> None:
    assert size_setting("1", "CLAUDE_BOTTLE_HARVEST_MAX", 5) == 1
    with pytest.raises(UsageError, match="CLAUDE_BOTTLE_HARVEST_MAX must be a size like 2g or 512m, got '0'"):
        size_setting("0", "CLAUDE_BOTTLE_HARVEST_MAX", 5)


@pytest.mark.parametrize(
    ("field", "variable"),
    [("harvest_max", "CLAUDE_BOTTLE_HARVEST_MAX"), ("harvest_file_max", "CLAUDE_BOTTLE_HARVEST_FILE_MAX")],
)
def test_a_bad_budget_setting_names_its_variable(field: str, variable: str) -> None:
    with pytest.raises(UsageError, match=f"^{variable} must be a size"):
        Budget.from_settings(Settings(**{field: "lots"}))  # type: ignore[arg-type]


def test_a_file_exactly_at_the_limit_lands(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    assert land(io.BytesIO(b"x" * 10), dest, 10) == 10
    assert dest.read_bytes() == b"x" * 10


def test_a_file_over_the_limit_is_refused_and_removed(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    with pytest.raises(OverCap):
        land(io.BytesIO(b"x" * 11), dest, 10)
    assert not dest.exists()


def test_a_file_ending_in_a_hole_keeps_its_size(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    data = b"x" + bytes(1 << 20)
    assert land(io.BytesIO(data), dest, len(data)) == len(data)
    assert dest.read_bytes() == data
