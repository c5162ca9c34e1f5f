"""A command's variables handed over on its exec's stdin (a warm pool's claim):
Kubernetes' exec has no environment of its own, and a value must never be in
the exec's argv (the API server's audit log and the node's process list show
it) nor in a file in the pod. As the Docker CLI reads its env file from a pipe
(engine/docker/envfile.py), the command here is wrapped in a small `sh` script
that reads the values from its stdin before it becomes the command:

1. the wrapper turns the terminal's echo off (under a terminal; it refuses to
   go on where it cannot: the values would be shown) and prints `READY`;
2. the client, having read `READY` (and shown nothing of it), sends one line
   `NAME=VALUE` per variable, the value's bytes outside a small safe set as
   `\\0ooo` octal escapes that the shell's own `printf %b` turns back (any
   value: line breaks, quotes, backslashes, non-ASCII), and an empty line;
3. the wrapper exports them, gives the terminal its settings back and execs
   the command, whose stdin is from then on the user's.

`read` takes its input a byte at a time from a pipe or a terminal, so nothing of
what follows the empty line (the user's input) is taken from the command.
Only `sh`, `printf` and, under a terminal, `stty` are needed in the image.
`wrapped` and `env_lines` are pure; `hand_over` does the exchange on an exec's channels."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from claude_bottle.engine.k8s.cluster import exit_status
from claude_bottle.engine.k8s.streams import ERROR, STDERR, STDIN, STDOUT, Channels
from claude_bottle.errors import UsageError

READY = b"\x1b]claude-bottle-env;\x07"  # an OSC sequence: a terminal that saw it would show nothing
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.,:/@+=-")
# $0 is the wrapper's name; "$@" the command. Under a terminal, no echo and no line
# editing while the values come (their lines are never shown, nor cut at 4 KiB).
WRAPPER = (
    "if [ -t 0 ]; then s=$(stty -g) && stty -echo -icanon min 1 time 0 || exit 126; fi; "
    "printf '\\033]claude-bottle-env;\\007'; "
    'while IFS= read -r l && [ -n "$l" ]; do '
    'v=$(printf \'%bx\' "${l#*=}") && export "${l%%=*}=${v%x}" || exit 126; '
    "done; "
    'if [ -t 0 ]; then stty "$s"; fi; exec "$@"'
)


def wrapped(argv: Sequence[str]) -> list[str]:
    """`argv` run by the wrapper, which first reads its variables from stdin (pure)."""
    return ["sh", "-c", WRAPPER, "claude-bottle-env", *argv]


def escaped(value: str) -> str:
    """A value as one line of printable ASCII that `printf %b` turns back into it (pure)."""
    data = value.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if b in _SAFE else f"\\0{b:03o}" for b in data)


def env_lines(values: Mapping[str, str]) -> bytes:
    """What the wrapper reads (pure): `NAME=escaped` a line, then an empty line."""
    for name, value in values.items():
        if not _NAME.match(name):
            raise UsageError(f"not a variable name: {name!r}")
        if "\0" in value:
            raise UsageError(f"the value of {name} holds a NUL byte, which no environment can carry")
    return "".join(f"{name}={escaped(value)}\n" for name, value in values.items()).encode("ascii") + b"\n"


def hand_over(
    channels: Channels, lines: bytes, on_stdout: Callable[[bytes], None], on_stderr: Callable[[bytes], None]
) -> tuple[int | None, str] | None:
    """Wait for the wrapper's READY (not passed on), then send it `lines`
    (`env_lines`). None once handed over; the command's end (status, message)
    when it ended before it was ready (no terminal to hide the values: 126)."""
    seen, error = b"", b""
    keep = len(READY) - 1  # a tail that may be the start of READY, held back
    for channel, data in channels.frames():
        if channel == STDOUT:
            seen += data
            at = seen.find(READY)
            if at >= 0:
                if at:
                    on_stdout(seen[:at])
                channels.send(STDIN, lines)
                if seen[at + len(READY) :]:
                    on_stdout(seen[at + len(READY) :])
                return None
            if len(seen) > keep:
                on_stdout(seen[:-keep])
                seen = seen[-keep:]
        elif channel == STDERR:
            on_stderr(data)
        elif channel == ERROR:
            error += data
    if seen:
        on_stdout(seen)
    channels.close()
    return exit_status(error)
