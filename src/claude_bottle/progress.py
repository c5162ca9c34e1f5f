"""Progress of a long step on a terminal: one line on standard error, redrawn in
place (done and total, rate), and gone when the step ends. Nothing at all when
standard error is not a terminal (a script's log stays clean), and no colour
under NO_COLOR (https://no-color.org) or on a dumb terminal.

Standard library only, imported only by the steps that show it: copying a
--cwd folder in, taking the work out, building an image."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any

REDRAW = 0.1  # seconds between redraws at most
CHUNK = 1 << 20
ERASE = "\r\x1b[K"  # back to the line's start, erase it: not a colour


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m {seconds % 60:02d}s"


class Progress:
    """A step's progress line. `unit` is "bytes" (sizes and a rate), "files" or
    "steps" (counts). Thread-safe: a relay thread advances it while the step runs."""

    def __init__(
        self, what: str, total: int | None = None, unit: str = "bytes", stream: IO[str] | None = None
    ) -> None:
        self.what = what
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.shown = _is_terminal(self.stream)
        self.colour = self.shown and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self.done = 0
        self.detail = ""
        self.started = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def advance(self, n: int, detail: str | None = None) -> None:
        with self._lock:
            self.done += n
            if detail is not None:
                self.detail = detail
        self._draw()

    def update(self, done: int, total: int | None = None, detail: str | None = None) -> None:
        with self._lock:
            self.done = done
            if total is not None:
                self.total = total
            if detail is not None:
                self.detail = detail
        self._draw()

    def line(self) -> str:
        """The text of the line as it stands (pure but for the clock)."""
        elapsed = time.monotonic() - self.started
        if self.unit == "bytes":
            done = _size(self.done) + (f" of {_size(self.total)}" if self.total else "")
            rate = f", {_size(self.done / elapsed)}/s" if elapsed > 0.2 else ""
        else:
            done = f"{self.unit[:-1] if self.unit.endswith('s') else self.unit} {self.done}" + (
                f" of {self.total}" if self.total else ""
            )
            rate = ""
        percent = f" ({min(99, int(100 * self.done / self.total))}%)" if self.total else ""
        detail = f": {self.detail}" if self.detail else ""
        text = f"claude-bottle: {self.what}: {done}{percent}{rate}, {_elapsed(elapsed)}{detail}"
        text = text[: _width() - 1]  # a line that wrapped could not be redrawn in place
        if self.colour and percent and percent in text:
            text = text.replace(percent, f"\x1b[1m{percent}\x1b[22m", 1)
        return text

    def _draw(self, force: bool = False) -> None:
        if not self.shown:
            return
        now = time.monotonic()
        if not force and now - self._drawn < REDRAW:
            return
        self._drawn = now
        with self._lock:
            text = self.line()
        try:
            self.stream.write(ERASE + text)
            self.stream.flush()
        except (OSError, ValueError):
            self.shown = False

    def close(self) -> None:
        """Take the line away (what follows prints on a clean line)."""
        if self.shown:
            try:
                self.stream.write(ERASE)
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self.shown = False

    # Streams whose bytes are counted on their way.

    def counting(self, stream: IO[bytes]) -> IO[bytes]:
        """`stream` as a reader that advances this line by what is read from it."""
        return _Counting(stream, self)  # type: ignore[return-value]

    def relay(self, source: IO[bytes]) -> tuple[IO[bytes], threading.Thread]:
        """A pipe whose read end carries `source`'s bytes, counted on their way (for
        a program that needs a file descriptor, such as the docker CLI's stdin), and
        the thread that relays them (it closes both ends of its own when done)."""
        read_fd, write_fd = os.pipe()

        def run() -> None:
            fd = source.fileno()
            try:
                while chunk := os.read(fd, CHUNK):
                    view = memoryview(chunk)
                    while view:
                        written = os.write(write_fd, view)
                        view = view[written:]
                    self.advance(len(chunk))
            except OSError:
                pass  # the reader went away (its own failure says why)
            finally:
                os.close(write_fd)
                source.close()

        thread = threading.Thread(target=run, daemon=True, name="progress-relay")
        thread.start()
        return os.fdopen(read_fd, "rb"), thread


class _Counting:
    def __init__(self, stream: IO[bytes], progress: Progress) -> None:
        self._stream = stream
        self._progress = progress

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self._progress.advance(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _width() -> int:
    try:
        return max(40, os.get_terminal_size(2).columns)
    except OSError:
        return 80
