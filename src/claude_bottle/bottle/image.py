"""The images claude-bottle builds itself: the agent image and the Squid
sidecar image, each from files shipped in the package, reused while nothing
that goes into it has changed (a content hash kept as a label). Built by the
Docker engine, on its host; other engines take images from a registry."""

from __future__ import annotations

import hashlib
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from claude_bottle import agent_image
from claude_bottle.console import info
from claude_bottle.engine import labels
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.settings import Settings

CLAUDE_CODE_VERSION = agent_image.CLAUDE_CODE_VERSION


@dataclass(frozen=True)
class ImageBuild:
    """What goes into an image (pure). `digest` names what the package
    defines; the extra CA has its own digest, so that a launch which does not
    name a CA reuses an image built with one."""

    tag: str
    files: tuple[tuple[str, bytes], ...]  # the build context, Dockerfile included
    extra_ca: bytes | None  # None: not named now, keep what the image has
    build_args: tuple[tuple[str, str], ...] = ()
    what: str = "the image"

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name, content in self.files:
            h.update(hashlib.sha256(name.encode() + b"\0" + content).digest())
        for key, value in self.build_args:
            h.update(hashlib.sha256(f"{key}={value}".encode()).digest())
        return h.hexdigest()[:16]

    @property
    def ca_digest(self) -> str:
        return hashlib.sha256(self.extra_ca or b"").hexdigest()[:16]

    def is_satisfied_by(self, digest: str, ca_digest: str) -> bool:
        return digest == self.digest and (self.extra_ca is None or ca_digest == self.ca_digest)

    @property
    def labels(self) -> dict[str, str]:
        return {labels.IMAGE_HASH: self.digest, labels.IMAGE_CA_HASH: self.ca_digest}


def read_extra_ca(path: str | None) -> bytes | None:
    chosen = path or Settings.from_environ().extra_ca
    if not chosen:
        return None
    try:
        return Path(chosen).expanduser().read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read extra CA file {chosen}: {exc.strerror}") from None


def _data(path: str) -> bytes:
    return resources.files("claude_bottle").joinpath(f"data/{path}").read_bytes()


def agent_image_build(tag: str, extra_ca_path: str | None = None) -> ImageBuild:
    return ImageBuild(
        tag=tag,
        files=(("Dockerfile", _data("Dockerfile")),),
        extra_ca=read_extra_ca(extra_ca_path),
        build_args=(("CLAUDE_CODE_VERSION", CLAUDE_CODE_VERSION),),
        what=f"the agent image (Claude Code {CLAUDE_CODE_VERSION})",
    )


def squid_image_build(tag: str) -> ImageBuild:
    return ImageBuild(
        tag=tag,
        files=(("Dockerfile", _data("squid/Dockerfile")), ("entrypoint.sh", _data("squid/entrypoint.sh"))),
        extra_ca=None,
        what="the Squid egress sidecar image",
    )


def image_is_current(engine: DockerEngine, build: ImageBuild) -> bool:
    found = engine.image_labels(build.tag, labels.IMAGE_HASH, labels.IMAGE_CA_HASH)
    if found is None:
        return False
    digest, ca_digest = found
    return build.is_satisfied_by(digest, ca_digest)


def ensure_image(
    engine: DockerEngine, build: ImageBuild, *, force: bool = False, quiet: bool = False
) -> bool:
    """Build the image unless an up-to-date one exists. True when it built."""
    if not force and image_is_current(engine, build):
        return False
    info(f"building {build.what} as {build.tag}; this takes a few minutes, once")
    with tempfile.TemporaryDirectory(prefix="claude-bottle-build.") as ctx:
        context = Path(ctx)
        for name, content in build.files:
            (context / name).write_bytes(content)
        (context / "extra-ca.pem").write_bytes(build.extra_ca or b"")
        # On a terminal, the engine's own progress; otherwise nothing on standard
        # output (a `run`'s output is the command's), and the log only when it fails.
        status, log = engine.build_image(context, build.tag, build_args=build.build_args, labels=build.labels,
                                         on_terminal=sys.stderr.isatty() and not quiet)  # fmt: skip
        if status != 0:
            print(log, file=sys.stderr, end="")
    if status != 0:
        raise ClaudeBottleError(
            f"building image {build.tag} failed (docker build exit {status}); see the output above"
        )
    return True
