"""Whether a session's owner still runs: a process that ended but was not yet
reaped (a detached keeper killed while its parent, init, has not reaped it)
owns nothing any more."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from claude_bottle.tracking.labels import Owner
from claude_bottle.tracking.owner import owner_alive, process_start
from tests.conftest import wait_for


def test_a_running_owner_is_alive_and_a_zombie_is_not() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        owner = Owner(pid=child.pid, start=process_start(child.pid), host=socket.gethostname())
        assert owner_alive(owner)  # the control
        child.kill()

        def zombie() -> bool:
            return Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"

        wait_for(zombie, 10, "the child's end, unreaped")
        assert not owner_alive(owner)
    finally:
        child.kill()
        child.wait()
    assert not owner_alive(owner)  # reaped: gone
