"""Messages to the user: one prefix, on stderr, so stdout stays for data."""

from __future__ import annotations

import sys
import time

PROG = "claude-bottle"

# Set once by cli/main.py from its Settings (--verbose or CLAUDE_BOTTLE_VERBOSE=1).
_verbose = False


def set_verbose(on: bool) -> None:
    global _verbose
    _verbose = on


def info(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def block(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def verbose() -> bool:
    """--verbose (or CLAUDE_BOTTLE_VERBOSE=1): echo every engine and git command."""
    return _verbose


def trace_streamed(shown: str) -> None:
    """Echo a command whose output is streamed while it runs (its status is the caller's)."""
    if verbose():
        print(f"{PROG}: + {shown}  [streamed]", file=sys.stderr, flush=True)


def trace(shown: str, started: float, status: int) -> None:
    """Echo one finished command (already redacted) with its duration and status, so a
    user can see and reproduce what the tool does."""
    if verbose():
        elapsed = time.monotonic() - started
        print(f"{PROG}: + {shown}  [{elapsed:.3f}s, exit {status}]", file=sys.stderr, flush=True)
