"""Who owns a session: this process, identified so that pid reuse cannot fool `cleanup`."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from claude_bottle.tracking.labels import Owner


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (from the state on), or []."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    # The command name (field 2) may hold spaces or parentheses; fields after it are fixed.
    return stat.rsplit(")", 1)[1].split()


def _start_of(fields: list[str]) -> str:
    return fields[19] if fields else ""


def process_start(pid: int) -> str:
    """The kernel's start time of `pid` (clock ticks since boot), or "" if unknown."""
    return _start_of(_stat_fields(pid))


def current_owner() -> Owner:
    pid = os.getpid()
    return Owner(pid=pid, start=process_start(pid), host=socket.gethostname())


def owner_alive(owner: Owner) -> bool:
    """True when the owner runs on this host and is the same process that made the session."""
    if owner.host != socket.gethostname():
        return True  # not ours to judge: another machine shares this engine
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat_fields(owner.pid)
    if fields and fields[0] == "Z":
        # Ended, not yet reaped: a detached keeper's parent is init, which may reap
        # late (seen for minutes on the CI machine), and a zombie removes nothing.
        return False
    return _start_of(fields) == owner.start
