"""Claude Code skills: a folder holding SKILL.md, found by name on the host."""

from __future__ import annotations

from pathlib import Path


def skill_search_dirs(base_dir: Path) -> tuple[Path, ...]:
    """Where a skill named in the manifest is looked up, first match wins."""
    return (
        base_dir / ".claude" / "skills",
        base_dir / "skills",
        Path.home() / ".claude" / "skills",
    )


def find_skill(name: str, base_dir: Path) -> Path | None:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        return None
    for folder in skill_search_dirs(base_dir):
        candidate = folder / name
        if (candidate / "SKILL.md").is_file():
            return candidate.resolve()
    return None
