"""Claude Code skills: a folder holding SKILL.md, found by name on the host."""

from __future__ import annotations

from pathlib import Path

from claude_bottle.safe_read import inside


def skill_search_dirs(base_dir: Path, home: Path) -> tuple[Path, ...]:
    """Where a skill named in the manifest is looked up, first match wins."""
    return (
        base_dir / ".claude" / "skills",
        base_dir / "skills",
        home / ".claude" / "skills",
    )


def find_skill(name: str, base_dir: Path, home: Path) -> Path | None:
    """The skill's folder, resolved. One beside the manifest must stay inside the
    manifest's folder once links are resolved: a committed link cannot make a
    host folder a "skill"."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        return None
    project = base_dir.resolve()
    *beside_manifest, users_own = skill_search_dirs(base_dir, home)
    for folder in (*beside_manifest, users_own):
        candidate = folder / name
        if not (candidate / "SKILL.md").is_file():
            continue
        resolved = candidate.resolve()
        if folder is not users_own and not inside(resolved, project):
            continue
        return resolved
    return None
