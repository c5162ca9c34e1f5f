"""Asking the person at the controlling terminal (not stdin, which a script may own)."""

from __future__ import annotations

import os

from claude_bottle.errors import ClaudeBottleError


def _answer(prompt: str, no_terminal: str) -> str:
    """One line read from /dev/tty after `prompt`, stripped; ClaudeBottleError(no_terminal) without one."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise ClaudeBottleError(no_terminal) from None
    with os.fdopen(fd, "r+b", buffering=0) as tty:
        tty.write(f"claude-bottle: {prompt} ".encode())
        return tty.readline().decode("utf-8", "replace").strip()


def ask(question: str, no_terminal: str) -> bool:
    """A yes/no question on /dev/tty; ClaudeBottleError(no_terminal) without one."""
    return _answer(f"{question} [y/N]", no_terminal) in ("y", "Y", "yes", "YES")


def choose(question: str, no_terminal: str) -> str:
    """The answer (stripped, lower case) to a question on /dev/tty; "" for none."""
    return _answer(question, no_terminal).lower()
