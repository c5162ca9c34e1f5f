"""The progress line of long steps (claude_bottle/progress.py): on a terminal
only, redrawn in place, with no colour under NO_COLOR (pure)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from claude_bottle.engine.docker.images import build_step
from claude_bottle.progress import ERASE, Progress
from claude_bottle.workspace.source import tar_argv, tar_size

SGR = re.compile(r"\x1b\[[0-9;]*m")  # colour and weight


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_at_all_where_stderr_is_not_a_terminal() -> None:
    out = io.StringIO()
    with Progress("copying x in", 1000, stream=out) as progress:
        progress.advance(500)
    assert out.getvalue() == ""
    assert not progress.shown


def test_one_line_redrawn_with_done_total_and_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr("claude_bottle.progress.REDRAW", 0.0)
    out = Terminal()
    with Progress("copying x in", 4 << 20, stream=out) as progress:
        progress.started -= 1.0  # a second in: the rate is shown
        progress.advance(1 << 20)
    drawn = out.getvalue()
    assert "\n" not in drawn  # redrawn in place, never a new line
    assert drawn.endswith(ERASE)  # and taken away at the end
    last = SGR.sub("", drawn.split(ERASE)[-2])
    assert re.fullmatch(
        r"claude-bottle: copying x in: 1\.0 MiB of 4\.0 MiB \(25%\), [0-9.]+ [KM]iB/s, 1s", last
    ), last
    assert SGR.search(drawn)  # bold on a colour terminal


def test_no_colour_under_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = Terminal()
    with Progress("copying x in", 100, stream=out) as progress:
        progress.advance(50)
    assert out.getvalue()
    assert not SGR.search(out.getvalue())


def test_steps_are_counted_with_what_they_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    progress = Progress("building claude-bottle:latest", unit="steps", stream=Terminal())
    progress.update(3, 12, "RUN apt-get update")
    assert progress.line().startswith(
        "claude-bottle: building claude-bottle:latest: step 3 of 12 (25%), 0s: RUN apt"
    )


def test_the_relay_carries_every_byte_and_counts_them(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    (tmp_path / "src").write_bytes(data)
    progress = Progress("x", len(data), stream=io.StringIO())
    with (tmp_path / "src").open("rb") as source:
        out, thread = progress.relay(source)
        received = out.read()
        thread.join()
    assert received == data
    assert progress.done == len(data)
    counted = Progress("y", stream=io.StringIO())
    assert counted.counting(io.BytesIO(data)).read() == data
    assert counted.done == len(data)


def test_a_relay_whose_reader_goes_away_ends(tmp_path: Path) -> None:
    read, write = os.pipe()
    source = os.fdopen(read, "rb")
    progress = Progress("x", stream=io.StringIO())
    out, thread = progress.relay(source)
    out.close()  # the reader is gone
    os.write(write, b"x" * (1 << 20))
    os.close(write)
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize(
    ("line", "step"),
    [
        ("Step 3/12 : RUN apt-get update\n", (3, 12, "RUN apt-get update")),
        ("#7 [2/5] RUN npm install -g x\n", (2, 5, "RUN npm install -g x")),
        ("#9 [stage-1 4/6] COPY a b\n", (4, 6, "COPY a b")),
        (" ---> Running in 0123\n", None),
        ("#7 0.512 Get:1 http://x bookworm InRelease\n", None),
    ],
)
def test_build_steps_are_read_from_either_builder(line: str, step: tuple[int, int, str] | None) -> None:
    assert build_step(line) == step


def test_tar_size_is_close_to_what_tar_writes(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for i, size in enumerate((0, 1, 511, 512, 513, 70_000)):
        (tmp_path / "d" / f"f{i}").write_bytes(b"x" * size)
    entries = ("d", *(f"d/f{i}" for i in range(6)))
    tar = subprocess.run(tar_argv(tmp_path), input=b"".join(e.encode() + b"\0" for e in entries),
                         capture_output=True, check=True)  # fmt: skip
    estimate = tar_size(tmp_path, entries)
    assert abs(len(tar.stdout) - estimate) <= 10240, (len(tar.stdout), estimate)  # tar pads to 10 KiB records
    assert threading.active_count() >= 1
    assert sys.stderr is not None
