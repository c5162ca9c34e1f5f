"""Who owns a session: this process, identified so that pid reuse cannot fool `cleanup`."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from claude_bottle.tracking.labels import Owner


def process_start(pid: int) -> str:
    """The kernel's start time of `pid` (clock ticks since boot), or "" if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces or parentheses; fields after it are fixed.
    return stat.rsplit(")", 1)[1].split()[19]


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
    return process_start(owner.pid) == owner.start
