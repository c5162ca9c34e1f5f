"""The one error base. Every user-facing failure is a ClaudeBottleError subclass;
the top-level handler in cli.py prints its message and maps it to an exit code."""

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


class EngineError(ClaudeBottleError):
    """An engine call failed. Carries the (redacted) command, status and stderr."""

    def __init__(self, command: Sequence[str], status: int, stderr: str, what: str = "") -> None:
        self.command = tuple(command)
        self.status = status
        self.stderr = stderr.strip()
        head = what or f"'{' '.join(self.command)}' failed"
        detail = f" (exit {status})" + (f": {self.stderr}" if self.stderr else "")
        super().__init__(head + detail)


class EngineUnavailable(ClaudeBottleError):
    pass


class Interrupted(ClaudeBottleError):
    """A signal asked us to stop; the launch tears down and exits 130."""

    exit_code = 130

    def __init__(self, signame: str = "SIGINT") -> None:
        self.signame = signame
        super().__init__(f"interrupted ({signame}); everything this session made was removed")
