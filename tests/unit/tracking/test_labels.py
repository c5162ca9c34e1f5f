"""User labels on every object of a session (pure)."""

from __future__ import annotations

import pytest

from claude_bottle.errors import UsageError
from claude_bottle.settings import Settings
from claude_bottle.tracking.labels import user_labels


def test_user_labels() -> None:
    assert user_labels(Settings(labels="ci.job=42, team=infra")) == (
        ("ci.job", "42"),
        ("team", "infra"),
    )
    assert user_labels(Settings()) == ()


@pytest.mark.parametrize("raw", ["novalue", "dev.claude-bottle.session=x", "UPPER=1", "=v"])
def test_bad_user_labels_are_refused(raw: str) -> None:
    with pytest.raises(UsageError, match="CLAUDE_BOTTLE_LABELS: "):
        user_labels(Settings(labels=raw))
