"""A watchdog that removes a session's objects if its owner dies without tearing down.

Started at launch in its own session (so a closing terminal or a Ctrl-C to the
process group does not reach it), it blocks reading a pipe whose only writer is
the owner, in a shell that becomes this module only when there is work. An
orderly teardown writes "clean" and closes it; if the owner is
killed (kill -9, OOM) the pipe just closes, and the watchdog removes everything
labelled with the session id (nothing of a session lives on the CLI's host
disk but its session folder, which is the user's record). It sweeps again
while the engine settles: an engine call under way when the owner died (its
docker client runs on in its own process group) can still make an object
after the first sweep. `claude-bottle cleanup` remains the backstop.

It also finishes every session's teardown (issue 12): once the agent is gone
and the proxy's log read, the sidecar and the network hold nothing of the
agent's, and removing them (about 0.4 s on Docker) is left to the watchdog,
told "finish", so that the CLI exits as soon as the agent is removed. A
resource removes itself instead when the watchdog is no longer there to do it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.hostenv import watchdog_env
from claude_bottle.settings import Settings

CLEAN = b"clean\n"
FINISH = b"finish\n"
# The watchdog waits in /bin/sh (a few hundred kilobytes) and becomes Python only
# to sweep: a waiting Python would hold about 9 MB per running bottle (issue 12).
# Signals stay ignored across the exec.
# The word read ("finish", or nothing when the owner died) is the sweeper's last argument.
WAIT = 'trap "" INT HUP TERM; read -r word; [ "$word" = clean ] && exit 0; exec "$@" "$word"'
# Seconds after the owner's end at which the session's labels are swept: the
# later sweeps catch objects whose creation was under way at the first.
SWEEPS = (0.0, 1.0, 3.0, 7.0, 15.0)


class Reaper(AbstractContextManager["Reaper"]):
    def __init__(self, engine: Engine, session_id: str, env: Mapping[str, str] | None = None) -> None:
        """`env`: the watchdog's environment (hostenv.watchdog_env; by default this
        process's, allowlisted)."""
        self.engine = engine
        self.session_id = session_id
        self.env = env if env is not None else watchdog_env(os.environ)
        self.proc: subprocess.Popen[bytes] | None = None
        # Set by the launch when the session ended without an exception.
        self.orderly = False
        self.finishing = False

    def will_remove(self) -> bool:
        """Asked by a resource at its exit: True when the watchdog will remove it
        after this process's end (the resource then leaves it), False after a
        failure or a signal, or when the watchdog is gone: the resource must
        remove itself. Once True, always."""
        if not self.finishing:
            self.finishing = self.orderly and self.proc is not None and self.proc.poll() is None
        return self.finishing

    def __enter__(self) -> Reaper:
        engine = self.engine.describe()
        sweeper = [sys.executable, "-m", "claude_bottle.bottle.reaper", self.session_id, *engine]
        self.proc = subprocess.Popen(
            # The same engine again, in a process of its own (engine.select.from_description).
            ["/bin/sh", "-c", WAIT, "claude-bottle-watchdog", *sweeper],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env=dict(self.env),
        )  # fmt: skip
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        # Reached only after every other resource's exit ran. If a removal
        # failed on the way (its error reaches this exit), the watchdog is told
        # nothing and sweeps the session's labels on its full schedule.
        # Otherwise it is told "finish" (the sidecar and the network are left
        # to it) or "clean" (nothing is left: it ends at once).
        assert self.proc is not None
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            if exc_type is None:
                self.proc.stdin.write(FINISH if self.finishing else CLEAN)
            self.proc.stdin.close()
        if exc_type is None and not self.finishing:
            self.proc.wait()


def main(argv: list[str], settings: Settings) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    from claude_bottle.engine.select import from_description

    session_id, *engine, word = argv
    if sys.stdin.buffer.read() == CLEAN:  # started by hand: the owner's word is still to read
        return 0
    # An orderly end made nothing more after its word: one sweep does, unless it failed.
    sweep(from_description(engine, settings), session_id, until_clean=word == FINISH.decode().strip())
    return 0


def sweep(engine: Engine, session_id: str, at: tuple[float, ...] = SWEEPS, until_clean: bool = False) -> None:
    from claude_bottle.tracking.inventory import remove_session

    start = time.monotonic()
    for moment in at:
        time.sleep(max(0.0, start + moment - time.monotonic()))
        try:
            failed = bool(remove_session(engine, session_id))
        except (ClaudeBottleError, OSError, subprocess.SubprocessError):
            # The engine did not answer, or no process could be started (a host
            # under load): the next sweep tries again.
            failed = True
        if until_clean and not failed:
            return


if __name__ == "__main__":
    # A process of its own (started with an explicit environment by the CLI,
    # hostenv.watchdog_env): its settings are read here, at its edge, once.
    sys.exit(main(sys.argv[1:], Settings.from_environ()))
