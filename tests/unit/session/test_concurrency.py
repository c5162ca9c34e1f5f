"""Entering and leaving resources together (pure logic; the resources are fakes)."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import pytest

from claude_bottle.session.concurrency import enter_together, in_background, run_together


class Resource(AbstractContextManager["Resource"]):
    def __init__(
        self, name: str, log: list[str], fail: bool = False, barrier: threading.Barrier | None = None
    ):
        self.name, self.log, self.fail, self.barrier = name, log, fail, barrier

    def __enter__(self) -> Resource:
        if self.barrier is not None:
            self.barrier.wait(timeout=5)  # proves the members are entered at the same time
        if self.fail:
            raise RuntimeError(f"{self.name} failed")
        self.log.append(f"+{self.name}")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.log.append(f"-{self.name}")


def test_members_are_entered_concurrently_and_left_together() -> None:
    log: list[str] = []
    barrier = threading.Barrier(2)
    with ExitStack() as stack:
        enter_together(stack, Resource("a", log, barrier=barrier), Resource("b", log, barrier=barrier))
        assert sorted(log) == ["+a", "+b"]
    assert sorted(log[2:]) == ["-a", "-b"]


def test_a_failure_leaves_the_members_that_were_entered_then_raises() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="b failed"), ExitStack() as stack:
        enter_together(stack, Resource("a", log), Resource("b", log, fail=True))
    assert log == ["+a", "-a"]


def test_stack_order_is_reverse_of_entry() -> None:
    log: list[str] = []
    with ExitStack() as stack:
        enter_together(stack, Resource("net", log))
        enter_together(stack, Resource("box", log))
    assert log == ["+net", "+box", "-box", "-net"]


def test_run_together_returns_results_in_order_and_raises_the_first_failure() -> None:
    assert run_together(lambda: 1, lambda: 2) == [1, 2]

    def boom() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_together(lambda: 1, boom)


def test_in_background_waits_for_its_calls_even_when_the_block_fails() -> None:
    done = threading.Event()

    def slow() -> None:
        done.wait(timeout=0.2)
        finished.append(True)

    finished: list[bool] = []
    with pytest.raises(KeyError), in_background(slow):
        raise KeyError("interrupted")
    assert finished == [True]
