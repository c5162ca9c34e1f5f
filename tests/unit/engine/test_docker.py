"""The Docker engine's pure parts: a failed call's message, and where a disk limit can be set."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from claude_bottle.engine.docker import DockerEngine
from claude_bottle.engine.docker.argv import storage_limit_problem
from claude_bottle.errors import EngineError


@pytest.mark.parametrize("flag", ["-e", "--env"])
def test_a_failed_engine_call_never_shows_an_env_value(flag: str) -> None:
    # The real code path of a failure: a command that exits 1 (`false` stands in
    # for docker) and the error it raises, whose message the CLI prints.
    secret = "canary-" + hashlib.sha256(flag.encode()).hexdigest()[:12]
    engine = DockerEngine(binary=shutil.which("false") or "/bin/false")
    with pytest.raises(EngineError) as failed:
        engine.run("run", flag, f"TOKEN={secret}", "--env", "PLAIN", "img")
    assert str(failed.value) == f"'docker run {flag} TOKEN=<redacted> --env PLAIN img' failed (exit 1)"
    assert secret not in repr(failed.value.args)


@pytest.mark.parametrize(
    ("info", "problem"),
    [
        ('overlay2\t[["Backing Filesystem","extfs"],["Supports d_type","true"]]',
         "the engine's storage driver (overlay2 on extfs) cannot limit a container's disk"),
        ('overlay2\t[["Backing Filesystem","xfs"]]',
         "the engine's storage driver (overlay2 on xfs) cannot limit a container's disk (overlay2 can only "
         "on xfs mounted with pquota, which the engine does not report)"),
        ("btrfs\tnull", None),
        ("zfs\t[]", None),
        ("", "the engine's storage driver (unknown) cannot limit a container's disk"),
    ],
)  # fmt: skip
def test_a_disk_limit_is_set_only_where_the_storage_driver_can(info: str, problem: str | None) -> None:
    assert storage_limit_problem(info) == problem
