"""SIGINT, SIGTERM and SIGHUP become an orderly teardown.

While a session runs, the first such signal raises Interrupted in the main
thread. During teardown they are recorded and ignored, so a second Ctrl-C
cannot abort the removal (as tox does); the previous handlers come back after.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from claude_bottle.console import info
from claude_bottle.errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _install(handler: Any) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in HANDLED}


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn the handled signals into Interrupted for the duration of the block."""

    def raise_interrupted(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = _install(raise_interrupted)
    try:
        yield
    finally:
        _restore(previous)


class SignalLatch:
    """While active, the handled signals are recorded instead of acting.

    Used where an operation must finish (waiting for engine calls already under
    way, teardown); `received` says whether the user asked to stop meanwhile.
    """

    def __init__(self, announce: str = "") -> None:
        self.announce = announce
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.received = self.received or signal.Signals(signum).name
        if self.announce:
            info(f"{signal.Signals(signum).name} received; {self.announce}")

    def __enter__(self) -> SignalLatch:
        self._previous = _install(self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        _restore(self._previous)


def shielded() -> SignalLatch:
    """Teardown: the handled signals are noted and otherwise ignored."""
    return SignalLatch(announce="still removing what this session made")
