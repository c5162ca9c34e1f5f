"""Names of engine objects (pure)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

from claude_bottle.errors import UsageError

PREFIX = "claude-bottle"
MAX_SUFFIX = 99


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.")
    return slug or "agent"


def new_session_id() -> str:
    return secrets.token_hex(4)


def container_candidates(slug: str) -> Iterator[str]:
    """claude-bottle-<slug>, then -2, -3, ... -99."""
    base = f"{PREFIX}-{slug}"
    yield base
    for n in range(2, MAX_SUFFIX + 1):
        yield f"{base}-{n}"


def choose_container_name(slug: str, taken: frozenset[str], pinned: str | None) -> str:
    if pinned:
        if pinned in taken:
            raise UsageError(
                f"container '{pinned}' already exists (pinned via CLAUDE_BOTTLE_CONTAINER). "
                "Remove it (claude-bottle cleanup, if a session left it) or unset the override."
            )
        return pinned
    for name in container_candidates(slug):
        if name not in taken:
            return name
    raise UsageError(
        f"could not find a free container name after {PREFIX}-{slug}-{MAX_SUFFIX}; "
        "remove old ones (claude-bottle cleanup)"
    )


def next_container_name(current: str, slug: str) -> str | None:
    """The candidate after `current` (used when another session won a name race)."""
    names = list(container_candidates(slug))
    try:
        i = names.index(current)
    except ValueError:
        return None
    return names[i + 1] if i + 1 < len(names) else None


def session_object_name(slug: str, session_id: str, role: str) -> str:
    return f"{PREFIX}-{slug}-{session_id}-{role}"
