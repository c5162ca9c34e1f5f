"""The one error base. Every user-facing failure is a ClaudeBottleError subclass;
the top-level handler in cli/main.py prints its message and maps it to an exit code."""

from __future__ import annotations

from collections.abc import Sequence


class ClaudeBottleError(Exception):
    """A failure the user should see as one line, not a traceback."""

    exit_code = 1


class UsageError(ClaudeBottleError):
    exit_code = 2


class ManifestError(ClaudeBottleError):
    """The manifest is unreadable or invalid. Names the file and the JSON path."""

    exit_code = 2

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        where = f"{source}: {path}: " if path else f"{source}: "
        super().__init__(where + message)


def display_command(argv: Sequence[str]) -> str:
    """A one-line form for messages. `NAME=value` after -e/--env is cut to NAME."""
    out: list[str] = []
    redact_next = False
    for arg in argv:
        if redact_next and "=" in arg:
            arg = arg.split("=", 1)[0] + "=<redacted>"
        redact_next = arg in ("-e", "--env")
        out.append(arg)
    return " ".join(out)


class EngineError(ClaudeBottleError):
    """An engine call failed. Carries the (redacted) command, status and stderr."""

    def __init__(self, command: Sequence[str], status: int, stderr: str, what: str = "") -> None:
        self.command = tuple(command)
        self.status = status
        self.stderr = stderr.strip()
        head = what or f"'{display_command(self.command)}' failed"
        detail = f" (exit {status})" + (f": {self.stderr}" if self.stderr else "")
        super().__init__(head + detail)

    def saying(self, what: str) -> EngineError:
        """The same failure, of the same kind, told as what the caller was doing."""
        return type(self)(self.command, self.status, self.stderr, what)


# The kinds of engine failure a caller may act on, classified once by the engine
# implementation (for the docker CLI: engine/docker/runner.py, from its wording), so no
# caller matches an engine's English (in the manner of docker-py's errors.NotFound).
class NotFound(EngineError):
    """The container, network, image or path named does not exist."""


class PathNotFound(NotFound):
    """A path inside a container does not exist."""


class NameConflict(EngineError):
    """The name is taken: a container or network of that name exists."""


class NotRunning(EngineError):
    """The container exists but is not running."""


class AddressConflict(EngineError):
    """A network's subnet overlaps one the engine already uses."""


class EngineUnavailable(ClaudeBottleError):
    """The engine cannot be reached (or the program named is not the engine's CLI)."""


class Interrupted(ClaudeBottleError):
    """A signal asked us to stop; the launch tears down and exits 130."""

    exit_code = 130

    def __init__(self, signame: str = "SIGINT") -> None:
        self.signame = signame
        super().__init__(f"interrupted ({signame}); everything this session made was removed")
