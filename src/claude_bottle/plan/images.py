"""What goes into the images claude-bottle builds itself (the agent image and
the Squid sidecar image), and the names they have in a registry (pure: this
reads the files shipped in the package and the extra CA, nothing else).
bottle/image.py builds and pushes them.

A registry name is REGISTRY[/PREFIX]/REPOSITORY:TAG, where the tag is the
build's own content id (the digest `build` reports as "up to date (...)"),
with the extra CA's digest after it when the image trusts one: a new
Dockerfile, Claude Code version or CA is a new tag, so a cluster that pulls
`IfNotPresent` never keeps running an image older than the plan asks for."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from claude_bottle import agent_image, package_data
from claude_bottle.errors import UsageError
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from claude_bottle.proxies.squid import PROXY_UID
from claude_bottle.safe_read import EXTRA_CA_MAX, HostFileProblem, read_capped
from claude_bottle.settings import ENVIRONMENT, Settings
from claude_bottle.tracking import labels

CLAUDE_CODE_VERSION = agent_image.CLAUDE_CODE_VERSION
NO_CA_DIGEST = hashlib.sha256(b"").hexdigest()[:16]


def _repository(tag: str) -> str:
    return tag.rpartition(":")[0]


AGENT_REPOSITORY = _repository(agent_image.TAG)  # claude-bottle
SQUID_REPOSITORY = _repository(SQUID_IMAGE)  # claude-bottle-squid
# The numeric user (UID:GID) each image claude-bottle builds runs as, by its
# repository's name: an engine that must run a container as a number (Kubernetes:
# a pod that must not run as root, whose image names its user) is told it in the
# container's spec (`ContainerSpec.run_as`).
IMAGE_USERS = {
    AGENT_REPOSITORY: f"{agent_image.UID}:{agent_image.GID}",
    SQUID_REPOSITORY: f"{PROXY_UID}:{PROXY_UID}",
}


def image_user(image: str) -> str | None:
    """The numeric user `image` runs as where claude-bottle built it (in any
    registry, under any tag), or None: another image's own user (pure)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return IMAGE_USERS.get(last.partition(":")[0])


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
    repository: str = AGENT_REPOSITORY  # its name in a registry, under REGISTRY[/PREFIX]

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


def read_extra_ca(path: str | None, settings: Settings | None = None) -> bytes | None:
    """`path` (build --extra-ca), else CLAUDE_BOTTLE_EXTRA_CA; a leading ~ was
    expanded by the CLI (HostPaths.expand)."""
    chosen = path or (settings or Settings()).extra_ca
    if not chosen:
        return None
    try:
        return read_capped(Path(chosen), EXTRA_CA_MAX)
    except HostFileProblem as exc:
        raise UsageError(f"cannot read extra CA file {chosen}: {exc}") from None


def agent_image_build(
    tag: str, extra_ca_path: str | None = None, settings: Settings | None = None
) -> ImageBuild:
    return ImageBuild(
        tag=tag,
        files=(("Dockerfile", package_data.read(package_data.AGENT_DOCKERFILE)),),
        extra_ca=read_extra_ca(extra_ca_path, settings),
        build_args=(("CLAUDE_CODE_VERSION", CLAUDE_CODE_VERSION),),
        what=f"the agent image (Claude Code {CLAUDE_CODE_VERSION})",
    )


def squid_image_build(
    tag: str, extra_ca_path: str | None = None, settings: Settings | None = None
) -> ImageBuild:
    """The Squid sidecar's image. It trusts the extra CA too: it opens TLS itself
    to the hosts whose credential it adds (a TLS-intercepting proxy re-signs them)."""
    return ImageBuild(
        tag=tag,
        files=(
            ("Dockerfile", package_data.read(package_data.SQUID_DOCKERFILE)),
            ("entrypoint.sh", package_data.read(package_data.SQUID_ENTRYPOINT)),
        ),
        extra_ca=read_extra_ca(extra_ca_path, settings),
        what="the Squid egress sidecar image",
        repository=SQUID_REPOSITORY,
    )


# --- Registry names ----------------------------------------------------------------

# The registry's host, as Docker tells a host from a Docker Hub user: it has a
# dot or a port, or is localhost (an IPv6 address goes in brackets).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
# A path component of a repository name (the distribution spec's grammar).
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


def check_registry(value: str, source: str = ENVIRONMENT["registry"]) -> str:
    """REGISTRY[/PREFIX] as given, without a trailing slash; refused with a
    message naming `source` unless it names a registry host first."""
    registry = value.strip().rstrip("/")
    host, _, prefix = registry.partition("/")
    problem = None
    if "://" in registry:
        problem = "give the registry's host without a scheme"
    elif not _HOST.fullmatch(host) or not ("." in host or ":" in host or host == "localhost"):
        problem = "it must start with the registry's host (with a dot or a port, or localhost)"
    elif prefix and not all(_COMPONENT.fullmatch(part) for part in prefix.split("/")):
        problem = "its path must be lower-case names separated by '/', without a tag"
    if problem:
        raise UsageError(
            f"{source}: '{value}' is not REGISTRY[/PREFIX] (e.g. registry.example/team): {problem}"
        )
    return registry


def registry_tag(digest: str, ca_digest: str) -> str:
    """The image's tag in a registry: its content id, and its CA's when it has one."""
    return digest if ca_digest in ("", NO_CA_DIGEST) else f"{digest}-ca{ca_digest[:8]}"


def registry_name(registry: str, repository: str, digest: str, ca_digest: str) -> str:
    return f"{registry}/{repository}:{registry_tag(digest, ca_digest)}"


def planned_registry_name(registry: str, build: ImageBuild) -> str:
    """The name a launch asks for: the build the package defines now, with the
    CA named now (CLAUDE_BOTTLE_EXTRA_CA), as `build --push` would push it."""
    return registry_name(registry, build.repository, build.digest, build.ca_digest)
