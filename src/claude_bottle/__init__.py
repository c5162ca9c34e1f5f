"""claude-bottle: run a coding agent in a container whose only way out is an egress proxy."""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_while_starting(signum: int, frame: object) -> None:
    # Nothing exists yet: say so in one line, as any other interrupt would.
    os.write(2, b"claude-bottle: interrupted\n")
    os._exit(130)


def _started_as_the_cli() -> bool:
    """`python -m claude_bottle` (argv[0] is "-m" while runpy imports this package)
    or the `claude-bottle` script; never a program that merely imports us."""
    first = sys.argv[0] if sys.argv else ""
    return first == "-m" or os.path.basename(first) == "claude-bottle"


# A Ctrl-C while the modules load would otherwise print a KeyboardInterrupt
# traceback; cli.main() hands SIGINT back to Python once it can handle it.
if _started_as_the_cli() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_while_starting)
