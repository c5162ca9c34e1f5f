"""Building and pushing the images claude-bottle builds itself (what goes
into them, and their names in a registry, is plan/images.py): each is reused
while nothing that goes into it has changed (a content hash kept as a label).
Built in an engine's own image store (engine.api.ImageStore: the Docker
engine's, on its host); `build --push` copies them to a registry for engines
that cannot see that host's images."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from claude_bottle.console import info
from claude_bottle.engine.api import ImageStore
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.plan.images import ImageBuild, registry_name
from claude_bottle.tracking import labels


def image_is_current(engine: ImageStore, build: ImageBuild) -> bool:
    found = engine.image_labels(build.tag, labels.IMAGE_HASH, labels.IMAGE_CA_HASH)
    if found is None:
        return False
    digest, ca_digest = found
    return build.is_satisfied_by(digest, ca_digest)


def ensure_image(engine: ImageStore, build: ImageBuild, *, force: bool = False, quiet: bool = False) -> bool:
    """Build the image unless an up-to-date one exists. True when it built."""
    if not force and image_is_current(engine, build):
        return False
    info(f"building {build.what} as {build.tag}; this takes a few minutes, once")
    with tempfile.TemporaryDirectory(prefix="claude-bottle-build.") as ctx:
        context = Path(ctx)
        for name, content in build.files:
            (context / name).write_bytes(content)
        (context / "extra-ca.pem").write_bytes(build.extra_ca or b"")
        # On a terminal, one line redrawn (the step and how long it has taken);
        # otherwise nothing on standard output (a `run`'s output is the command's).
        # The log is shown only when the build fails.
        from claude_bottle.progress import Progress  # only for this step

        progress = Progress(f"building {build.tag}", unit="steps")
        progress.shown = progress.shown and not quiet

        def on_step(n: int, total: int, what: str) -> None:
            progress.update(n, total, what)

        with progress:
            status, log = engine.build_image(
                context, build.tag, build_args=build.build_args, labels=build.labels,
                on_step=on_step if progress.shown else None,
            )  # fmt: skip
        if status != 0:
            print(log, file=sys.stderr, end="")
    if status != 0:
        raise ClaudeBottleError(
            f"building image {build.tag} failed (docker build exit {status}); see the output above"
        )
    return True


def push_image(engine: ImageStore, build: ImageBuild, registry: str, *, quiet: bool = False) -> str:
    """Push the engine's image of `build` to `registry` (REGISTRY[/PREFIX],
    checked) under its content-id tag; the name pushed. The tag is read from
    the image's own labels, so it names what the image holds (a CA kept from an
    earlier build included). The registry's name is a second tag of the same
    image, removed again once pushed: the engine's images stay as they were."""
    found = engine.image_labels(build.tag, labels.IMAGE_HASH, labels.IMAGE_CA_HASH)
    if found is None or not found[0]:
        raise ClaudeBottleError(f"image {build.tag} is not there to push; run 'claude-bottle build'")
    digest, ca_digest = found
    name = registry_name(registry, build.repository, digest, ca_digest)
    info(f"pushing {build.what} as {name}")
    engine.tag_image(build.tag, name)
    try:
        status, log = engine.push_image(name, on_terminal=sys.stderr.isatty() and not quiet)
    finally:
        engine.untag_image(name)
    if status != 0:
        print(log, file=sys.stderr, end="")
        raise ClaudeBottleError(f"pushing {name} failed (docker push exit {status}); see the output above")
    return name
