"""The Docker engine's own images (engine.api.ImageStore): whether one is there
and its labels, building, pulling, tagging and pushing."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from claude_bottle.engine.docker.argv import label_args
from claude_bottle.engine.docker.runner import NO_VALUE, DockerCLI, trace_call
from claude_bottle.errors import NotFound


class DockerImages(DockerCLI):
    """The engine's image store."""

    # --- Images (the engine.api.ImageStore) ------------------------------------------

    def image_exists(self, ref: str) -> bool:
        return self.ok("image", "inspect", "--format", "{{.Id}}", ref)

    def image_labels(self, ref: str, *keys: str) -> tuple[str, ...] | None:
        """The image's values of `keys` ("" where a key is absent), or None without the image."""
        fmt = "\t".join(f'{{{{index .Config.Labels "{key}"}}}}' for key in keys)
        result = self.run("image", "inspect", "--format", fmt, ref, check=False)
        if result.returncode != 0:
            return None
        values = result.stdout.rstrip("\n").split("\t")
        return tuple("" if v == NO_VALUE else v for v in values)

    def build_image(
        self,
        context: Path,
        tag: str,
        *,
        build_args: Sequence[tuple[str, str]] = (),
        labels: Mapping[str, str] | None = None,
        on_terminal: bool = False,
        on_step: Callable[[int, int, str], None] | None = None,
    ) -> tuple[int, str]:
        """`docker build`: its status and its output. `on_step(n, total, what)` is
        told each step as docker reaches it (the classic builder's `Step n/total`,
        BuildKit's `[n/total]`); without it, on a terminal, docker's own output."""
        args = build_argv(context, tag, build_args, labels or {}, quiet=not on_terminal and on_step is None)
        if on_step is not None:
            return self._build_steps(args, on_step)
        if on_terminal:
            return self.foreground(*args, registry=True), ""  # docker's own progress: the step and its output
        result = self.run(*args, check=False, registry=True)
        return result.returncode, result.stdout + result.stderr

    def _build_steps(self, args: Sequence[str], on_step: Callable[[int, int, str], None]) -> tuple[int, str]:
        proc = self.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        log: list[str] = []
        started = time.monotonic()
        with proc.stdout:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                log.append(line)
                step = build_step(line)
                if step is not None:
                    on_step(*step)
        status = proc.wait()
        trace_call(self.argv(args), started, status)
        return status, "".join(log)

    def pull(self, ref: str) -> bool:
        return self.foreground("pull", ref, registry=True) == 0

    def tag_image(self, source: str, target: str) -> None:
        self.run("image", "tag", source, target, what=f"tagging {source} as {target}")

    def untag_image(self, ref: str) -> None:
        """Remove the name `ref`, never an image another name still holds, nor
        its untagged parents (`--no-prune`); a name already gone is no error."""
        result = self.run("image", "rm", "--no-prune", ref, check=False)
        if result.returncode != 0 and not self.failed_for(result, NotFound):
            raise self.error_of(result, f"removing the name {ref}")

    def push_image(self, ref: str, *, on_terminal: bool = False) -> tuple[int, str]:
        """`docker push`: its status, and its output when not shown on a terminal."""
        if on_terminal:
            # Docker's progress on the terminal, through stderr: stdout is for the names pushed.
            argv, started = self.argv(("image", "push", ref)), time.monotonic()
            status = subprocess.run(
                argv, stdout=sys.stderr, env=self._env(registry=True), check=False
            ).returncode
            trace_call(argv, started, status)
            return status, ""
        result = self.run("image", "push", "--quiet", ref, check=False, registry=True)
        return result.returncode, result.stdout + result.stderr


_CLASSIC_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_BUILDKIT_STEP = re.compile(r"^#\d+ \[(?:[\w.-]+ )?(\d+)/(\d+)\] (.*)$")


def build_step(line: str) -> tuple[int, int, str] | None:
    """The step a line of `docker build`'s output starts (n, total, what), or None (pure)."""
    found = _CLASSIC_STEP.match(line.rstrip("\n")) or _BUILDKIT_STEP.match(line.rstrip("\n"))
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2)), found.group(3).strip()[:60]


def build_argv(
    context: Path, tag: str, build_args: Sequence[tuple[str, str]], labels: Mapping[str, str], *, quiet: bool
) -> tuple[str, ...]:
    return (
        "build", *(("-q",) if quiet else ()), "--force-rm",
        "-t", tag,
        *(arg for key, value in build_args for arg in ("--build-arg", f"{key}={value}")),
        *label_args(labels),
        str(context),
    )  # fmt: skip
