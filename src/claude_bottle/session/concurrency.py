"""Entering and leaving independent resources at the same time.

Engine calls are slow and mostly waiting, so independent resources (the two
networks; the sidecar and the agent container) are made and removed in
parallel. Each stays its own context manager: `enter_together` enters them
concurrently and returns one context manager whose exit leaves them
concurrently. If any fails to enter, the ones that did are left before the
error propagates, so nothing made is lost track of.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, ExitStack, contextmanager
from types import TracebackType
from typing import Any

from claude_bottle.errors import Interrupted
from claude_bottle.session.signals import SignalLatch, shielded


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Call each in its own thread and return their results; for short calls only
    (a signal meanwhile is acted on once all have returned)."""
    if len(calls) == 1:
        return [calls[0]()]
    # The latch covers the pool's shutdown too: a signal raised there would
    # escape with the calls' results unseen.
    with SignalLatch() as latch, ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(c) for c in calls]
        wait(futures)
    if latch.received:
        raise Interrupted(latch.received)
    return [f.result() for f in futures]


@contextmanager
def in_background(*calls: Callable[[], Any]) -> Iterator[Callable[[], None]]:
    """Run short calls in threads while the block does something else.

    The block calls the yielded function to wait for them and raise their first
    failure. Whatever happens in the block, the calls are waited for before it
    is left, so nothing they make goes untracked.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, len(calls)))
    futures = [pool.submit(c) for c in calls]

    def finished() -> None:
        wait(futures)
        for f in futures:
            f.result()

    try:
        yield finished
    finally:
        with SignalLatch():
            wait(futures)
            pool.shutdown()


class Together(AbstractContextManager["Together"]):
    """Context managers left together (concurrently) on exit."""

    def __init__(self, members: Sequence[AbstractContextManager[Any]]) -> None:
        self.members = list(members)

    def __enter__(self) -> Together:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        errors = _leave(self.members, exc_type, exc, tb)
        if errors and exc is None:
            raise errors[0]


def _leave(
    members: Sequence[AbstractContextManager[Any]],
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> list[BaseException]:
    if not members:
        return []
    with shielded(), ThreadPoolExecutor(max_workers=len(members)) as pool:
        futures = [pool.submit(m.__exit__, exc_type, exc, tb) for m in members]
        wait(futures)
    return [e for f in futures if (e := f.exception()) is not None]


def enter_together(stack: ExitStack, *members: AbstractContextManager[Any]) -> None:
    """Enter all members concurrently and put those that entered on `stack`; then
    raise the first failure, if any (the stack's owner leaves what entered).

    A signal meanwhile is held until every member is either on the stack or
    known not to exist: from creating a resource to registering it there is no
    moment where an interrupt could lose track of it.
    """
    with SignalLatch() as latch:
        with ThreadPoolExecutor(max_workers=max(1, len(members))) as pool:
            futures: list[Future[Any]] = [pool.submit(m.__enter__) for m in members]
            wait(futures)
        entered = [m for m, f in zip(members, futures, strict=True) if f.exception() is None]
        if entered:
            stack.enter_context(Together(entered))
    failures: list[BaseException] = [e for f in futures if (e := f.exception()) is not None]
    if latch.received:
        failures.insert(0, Interrupted(latch.received))
    if failures:
        raise failures[0]
