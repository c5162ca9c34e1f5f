"""The typed engine errors against the real engine: its actual wording lands in
the right kind (the unit tests hold the wording; this proves it is the engine's)."""

from __future__ import annotations

import secrets

import pytest

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.errors import NameConflict, NotFound, NotRunning, PathNotFound
from tests.engine.conftest import case_label

pytestmark = pytest.mark.engine


def test_the_engine_s_own_words_land_in_their_kinds(engine: DockerEngine, agent_image: str) -> None:
    name = f"claude-bottle-errors-{secrets.token_hex(4)}"  # made and removed by this test alone
    label = ("--label", case_label())
    with pytest.raises(NotFound):
        engine.run("rm", name)  # nothing of that name: never made
    engine.run("network", "create", *label, name)
    try:
        with pytest.raises(NameConflict):
            engine.run("network", "create", *label, name)
        engine.run("create", "--name", name, *label, "--network", name, agent_image, "true")
        with pytest.raises(NameConflict):
            engine.run("create", "--name", name, *label, agent_image, "true")
        with pytest.raises(NotRunning):
            engine.run("exec", name, "true")
        with pytest.raises(PathNotFound):
            engine.run("cp", f"{name}:/no/such/path", "-")
    finally:
        engine.run("rm", "-f", name, check=False)
        engine.run("network", "rm", name, check=False)
    with pytest.raises(NotFound):
        engine.run("network", "rm", name)
