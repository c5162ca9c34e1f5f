"""Messages to the user: one prefix, on stderr, so stdout stays for data."""

from __future__ import annotations

import sys

PROG = "claude-bottle"


def info(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def block(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
