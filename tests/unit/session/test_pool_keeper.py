"""The keeper against an engine that records its calls: it fills the pool with
bottles made with none of the agent's values, refills what is claimed, and
ends after its idle time having removed what was still ready."""

from __future__ import annotations

import threading
from pathlib import Path

from claude_bottle.engine.api import Capabilities
from claude_bottle.paths import HostPaths
from claude_bottle.proxies.squid import CONFIG_ENV, CREDENTIALS_ENV, SSH_KEYS_ENV
from claude_bottle.session.pool_keeper import Keeper
from claude_bottle.tracking import labels as L
from claude_bottle.tracking.owner import current_owner
from tests.fakes import FakeEngine
from tests.unit.session.test_warm import ENVIRON, plan_of


def keeper_of(tmp_path: Path, idle: float) -> tuple[Keeper, FakeEngine]:
    engine = FakeEngine(Capabilities("pins", True, True, True))
    paths = HostPaths(tmp_path / "home", tmp_path / "config", tmp_path / "state", tmp_path / "data")
    keeper = Keeper(engine, plan_of(tmp_path), paths, 2, idle)
    keeper.folder.root.mkdir(parents=True)
    keeper.folder.keeper_file.write_text("{}")
    return keeper, engine


def test_the_keeper_fills_the_pool_with_bottles_that_hold_no_value(tmp_path: Path) -> None:
    keeper, engine = keeper_of(tmp_path, idle=3600)
    full = threading.Thread(target=keeper._keep)
    full.start()
    try:
        while len(keeper.folder.waiting()) < 2:
            full.join(0.01)
        agents = [s for s in engine.containers.values() if s.labels.get(L.ROLE) == L.ROLE_AGENT]
        assert len(agents) == 2
        for spec in agents:
            assert spec.secret_env == ()  # none of the agent's values: they come at the claim
            assert spec.labels[L.POOL] == keeper.key
            assert ENVIRON["HOSTK"] not in str(spec)
        sidecars = [s for s in engine.containers.values() if s.labels.get(L.ROLE) == L.ROLE_SIDECAR]
        assert len(sidecars) == 2
        # Its configuration alone, never the credentials or ssh keys a sidecar can hold.
        assert all(s.secret_env == (CONFIG_ENV,) for s in sidecars)
        assert not {CREDENTIALS_ENV, SSH_KEYS_ENV} & {k for s in sidecars for k in s.env}
        claimed = keeper.folder.claim(current_owner())
        assert claimed is not None
        while len(keeper.folder.waiting()) < 2:  # refilled with a new one
            full.join(0.01)
        assert claimed.session_id not in keeper.folder.waiting()
    finally:
        keeper.stopping.set()
        full.join()


def test_an_idle_keeper_ends_and_removes_what_is_ready(tmp_path: Path) -> None:
    keeper, engine = keeper_of(tmp_path, idle=2.0)
    keeper._keep()  # returns on its own: no claim within its idle time
    assert len(keeper.folder.waiting()) == 2
    searches = engine.searches
    keeper.drain()
    assert keeper.folder.waiting() == []
    assert engine.searches - searches == 2  # each ready bottle's session looked up by label, to remove
