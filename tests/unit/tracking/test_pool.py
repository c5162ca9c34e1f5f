"""The warm pool's claims on the host: of claimers racing for one ready bottle
exactly one gets it, a claimed bottle is never handed out again, and a dead
keeper's bottles are not handed out at all."""

from __future__ import annotations

import threading
from pathlib import Path

from claude_bottle.tracking.labels import Owner
from claude_bottle.tracking.owner import current_owner
from claude_bottle.tracking.pool import (
    PoolFolder,
    ReadyBottle,
    claimant_alive,
    claimer_of,
    pools_of,
    write_keeper,
)

DEAD = Owner(pid=2**22 + 1, start="0", host=current_owner().host)  # above pid_max: never alive


def ready(session_id: str, keeper: Owner | None = None) -> ReadyBottle:
    return ReadyBottle(session_id, f"c-{session_id}", f"p-{session_id}", f"n-{session_id}", "10.243.0.0/28",
                       "", keeper or current_owner())  # fmt: skip


def test_of_two_claimers_of_one_bottle_one_wins(tmp_path: Path) -> None:
    folder = PoolFolder.of(tmp_path, "k")
    folder.publish(ready("s1"))
    first, second = folder.take("s1", current_owner()), folder.take("s1", current_owner())
    assert first == ready("s1")
    assert second is None
    assert folder.waiting() == []


def test_many_claimers_at_once_take_each_bottle_once(tmp_path: Path) -> None:
    folder = PoolFolder.of(tmp_path, "k")
    for n in range(5):
        folder.publish(ready(f"s{n}"))
    won: list[str] = []
    start = threading.Barrier(10)

    def claimer() -> None:
        start.wait()
        taken = folder.claim(current_owner())
        if taken is not None:
            won.append(taken.session_id)

    threads = [threading.Thread(target=claimer) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [f"s{n}" for n in range(5)]
    assert folder.claim(current_owner()) is None  # claimed ones never return to the pool


def test_a_dead_keepers_bottle_is_not_handed_out(tmp_path: Path) -> None:
    folder = PoolFolder.of(tmp_path, "k")
    folder.publish(ready("gone", keeper=DEAD))
    assert folder.claim(current_owner()) is None
    assert folder.claims() == []  # forgotten: `cleanup` removes its objects by label


def test_a_claimed_bottle_is_its_live_claimers_until_released(tmp_path: Path) -> None:
    folder = PoolFolder.of(tmp_path, "k")
    folder.publish(ready("s1"))
    assert folder.take("s1", current_owner()) is not None
    assert claimant_alive(tmp_path, "s1")
    folder.release("s1")
    assert not claimant_alive(tmp_path, "s1")


def test_a_dead_claimers_bottle_is_not_kept_from_cleanup(tmp_path: Path) -> None:
    folder = PoolFolder.of(tmp_path, "k")
    folder.publish(ready("s1"))
    assert folder.take("s1", DEAD) is not None
    assert not claimant_alive(tmp_path, "s1")


def test_pools_are_found_by_the_agent_their_keeper_was_started_for(tmp_path: Path) -> None:
    mine, other = PoolFolder.of(tmp_path, "k1"), PoolFolder.of(tmp_path, "k2")
    write_keeper(mine, current_owner(), "a", 2)
    write_keeper(other, current_owner(), "b", 2)
    assert pools_of(tmp_path, "a") == [mine]


def test_the_claimer_of_a_pooled_session_is_read_back(tmp_path: Path) -> None:
    folder = PoolFolder.of(tmp_path, "k")
    folder.publish(ready("s1"))
    assert claimer_of(tmp_path, "s1") is None  # ready: its keeper's
    assert folder.take("s1", DEAD) is not None
    assert claimer_of(tmp_path, "s1") == DEAD  # `stop` signals it, not the keeper its labels name
