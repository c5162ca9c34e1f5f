"""The user's folder (--cwd), streamed into the bottle's workspace as a tar."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

from claude_bottle.engine import Engine
from claude_bottle.errors import EngineError
from claude_bottle.tarball import AGENT_GID, AGENT_UID


def _owned_by_agent(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid, info.gid, info.uname, info.gname = AGENT_UID, AGENT_GID, "node", "node"
    return info


def copy_folder_in(engine: Engine, container: str, folder: Path, dest: str) -> None:
    """Stream `folder` (its .git included) into `dest`, owned by the agent user."""
    proc = engine.popen(
        "cp",
        "-",
        f"{container}:{dest}",
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stderr is not None
    try:
        with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for entry in sorted(os.listdir(folder)):
                tar.add(folder / entry, arcname=entry, filter=_owned_by_agent)
    except BrokenPipeError:
        pass
    finally:
        proc.stdin.close()
    stderr = proc.stderr.read().decode("utf-8", "replace")
    if proc.wait() != 0:
        raise EngineError(
            ["docker", "cp", "-", f"{container}:{dest}"],
            proc.returncode,
            stderr,
            f"cannot copy {folder} into the bottle",
        )
