"""The env file a container's values travel in: read by the docker client from a
pipe it inherits (`--env-file /dev/fd/N`), so a value is on no disk, in no
argv and in no process's environment; refused, naming the variable, where the
format cannot carry a value."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping

from claude_bottle.errors import UsageError

# The tool's own variables (no manifest may name one: hostenv.refused_env_name)
# are the only ones handed over in the docker client's environment: the sidecar's
# configuration, which is not secret and runs to many lines. Every other value a
# container is given goes through the env file.
OWN_PREFIX = "CLAUDE_BOTTLE_"
# The docker client reads its env file with Go's bufio.Scanner: a line of 64 KiB
# or more fails ("token too long"), a final carriage return is dropped, and text
# that is not UTF-8 is refused. One variable a line: a value cannot hold a line break.
ENV_FILE_LINE_MAX = 64 * 1024 - 1


def env_file_problem(name: str, value: str) -> str | None:
    """Why the docker client's env file cannot carry `value`, or None (pure)."""
    if "\n" in value or "\r" in value:
        return "its value holds a line break, and the docker client reads its env file one variable a line"
    try:
        line = f"{name}={value}".encode()
    except UnicodeEncodeError:
        return "its value is not UTF-8 text, which the docker client's env file refuses"
    if len(line) > ENV_FILE_LINE_MAX:
        return f"its value is longer than a line of the docker client's env file ({ENV_FILE_LINE_MAX} bytes)"
    return None


def env_file_text(values: Mapping[str, str]) -> bytes:
    """The env file for `values`, one `NAME=value` a line (pure); a value the
    format cannot carry is refused, naming the variable, never showing the value."""
    for name, value in values.items():
        problem = env_file_problem(name, value)
        if problem:
            raise UsageError(
                f"the agent's variable {name} cannot be handed to the Docker engine: {problem} "
                "(the Kubernetes engine takes any value)"
            )
    return "".join(f"{name}={value}\n" for name, value in values.items()).encode()


@contextlib.contextmanager
def env_file(values: Mapping[str, str]) -> Iterator[tuple[str | None, tuple[int, ...]]]:
    """An env file the docker client reads from a pipe it inherits (its path
    `/dev/fd/N`, and the descriptors to pass): the values are on no disk and in
    no process's environment, and the pipe can be read once. (None, ()) without values."""
    if not values:
        yield None, ()
        return
    data = env_file_text(values)
    read_end, write_end = os.pipe()

    def feed() -> None:
        # A client that failed before reading ends the wait: its end closed, the write fails.
        with contextlib.suppress(OSError), os.fdopen(write_end, "wb") as out:
            out.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        yield f"/dev/fd/{read_end}", (read_end,)
    finally:
        os.close(read_end)
        writer.join()
