"""Progress of long steps as a user sees it: a `run --cwd` of a 500 MB folder
under a pseudo-terminal shows one line redrawn (bytes done and total, rate) on
standard error, with no colour under NO_COLOR; the same with standard error
to a file prints none of it. So does taking changed files back out."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
from pathlib import Path

import pexpect

from claude_bottle.engine.docker import DockerEngine
from tests.conftest import trust_manifest
from tests.installed import cli_argv, cli_path

SGR = re.compile(r"\x1b\[[0-9;]*m")
MIB = 1 << 20


def big_folder(tmp_path: Path) -> Path:
    """500 MB in five files (sparse on this disk, but tar reads and sends every byte)."""
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(5):
        with (folder / f"blob{i}").open("wb") as f:
            f.truncate(100 * MIB)
    manifest = {
        "bottles": {"b": {"egress": {"allow": ["allowed.test"]}}},
        "agents": {"copier": {"bottle": "b"}},
    }
    (folder / "claude-bottle.json").write_text(json.dumps(manifest))
    trust_manifest(folder / "claude-bottle.json")
    return folder


def test_a_500_mb_copy_in_shows_progress_on_a_terminal_and_none_otherwise(
    engine: DockerEngine, agent_image: str, tmp_path: Path
) -> None:
    folder = big_folder(tmp_path)
    # The agent changes a file: it comes back out, with its own progress line.
    work = (
        "head -c 3000000 /dev/zero > ~/workspace/made.bin && test $(stat -c %s ~/workspace/blob0) = 104857600"
    )
    env = {**os.environ, "NO_COLOR": "1"}
    child = pexpect.spawn(cli_path(), ["run", "copier", "--cwd", "--", "sh", "-c", work], cwd=str(folder),
                          env=env, encoding="utf-8", timeout=300, dimensions=(24, 200))  # fmt: skip
    child.logfile_read = seen = io.StringIO()
    child.expect(r"claude-bottle: copying big in: [0-9.]+ [KMG]iB of 500\.\d MiB \(\d+%\), [0-9.]+ [KMG]iB/s")
    # A small file comes out in one read: the line may show only its start (redrawn 10 times a second).
    child.expect(r"taking the work out \(1 file\(s\)\): [0-9.]+ (B|KiB|MiB) of 2\.9 MiB")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, seen.getvalue()
    transcript = seen.getvalue()
    assert "\x1b[K" in transcript  # redrawn in place
    assert not SGR.search(transcript)  # NO_COLOR: no colour at all
    assert "1 new" in transcript  # the summary, after the line was taken away
    # Standard error to a file: the same run prints no progress at all.
    with (tmp_path / "stderr").open("w") as err:
        quiet = subprocess.run(cli_argv("run", "copier", "--cwd", "--", "sh", "-c", work), cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=err, timeout=300, check=False)  # fmt: skip
    logged = (tmp_path / "stderr").read_text()
    assert quiet.returncode == 0, logged
    assert "copying" not in logged
    assert "taking the work out" not in logged
    assert "\r" not in logged
    assert "\x1b" not in logged
    assert "1 new" in logged


def test_an_image_build_reports_each_of_its_steps(engine: DockerEngine, tmp_path: Path) -> None:
    # A small image of the test's own (never the shared ones): the steps as docker reaches them.
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\nRUN true\nLABEL dev.claude-bottle-test=1\n"
    )
    tag = "claude-bottle-test/progress:1"
    steps: list[tuple[int, int, str]] = []
    try:
        status, log = engine.build_image(
            tmp_path, tag, on_step=lambda n, total, what: steps.append((n, total, what))
        )
    finally:
        engine.run("image", "rm", "--no-prune", tag, check=False)
    assert status == 0, log
    assert [(n, total) for n, total, _ in steps] == [(1, 3), (2, 3), (3, 3)]
    assert steps[1][2] == "RUN true"
