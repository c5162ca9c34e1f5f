"""claude-bottle build: build (or confirm up to date) the agent and Squid
images, and with --push copy them to a registry for a cluster to pull."""

from __future__ import annotations

import argparse
from typing import Any

from claude_bottle.bottle.image import ensure_image, push_image
from claude_bottle.console import info
from claude_bottle.engine.select import image_store
from claude_bottle.errors import UsageError
from claude_bottle.plan.images import (
    agent_image_build,
    check_registry,
    planned_registry_name,
    squid_image_build,
)
from claude_bottle.plan.plan import DEFAULT_IMAGE
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from claude_bottle.settings import ENVIRONMENT, Settings


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="build the agent and Squid sidecar images (skipped when up to date)")
    p.add_argument(
        "--extra-ca",
        metavar="PEM",
        help="CA certificates to trust inside the image, for TLS-intercepting proxies "
        "(also CLAUDE_BOTTLE_EXTRA_CA)",
    )
    p.add_argument("--force", action="store_true", help="rebuild even when up to date")
    p.add_argument(
        "--push",
        nargs="?",
        const="",
        metavar="REGISTRY[/PREFIX]",
        help="then push both images to this registry, tagged with their content id, and print "
        "the names pushed (default: $CLAUDE_BOTTLE_REGISTRY)",
    )
    p.set_defaults(handler=run)


def chosen_registry(option: str | None, settings: Settings) -> str | None:
    """Where --push pushes (checked), or None without --push."""
    if option is None:
        return None
    if option:
        return check_registry(option, "--push")
    if not settings.registry:
        raise UsageError(
            f"--push needs a registry: --push REGISTRY[/PREFIX], or set {ENVIRONMENT['registry']}"
        )
    return check_registry(settings.registry)


def run(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    registry = chosen_registry(args.push, settings)  # refused before a long build, not after
    engine = image_store(args.settings)  # images are built by the Docker engine, whichever runs bottles
    agent_tag = settings.image or DEFAULT_IMAGE
    extra_ca = str(args.paths.expand(args.extra_ca)) if args.extra_ca else None
    builds = (
        agent_image_build(agent_tag, extra_ca, settings),
        squid_image_build(SQUID_IMAGE, extra_ca, settings),
    )
    for build in builds:
        if not ensure_image(engine, build, force=args.force):
            info(f"image {build.tag} is up to date ({build.digest})")
    if registry is None:
        return 0
    # What a Kubernetes launch will ask for: the CA only as the setting names it.
    launched = (agent_image_build(agent_tag, None, settings), squid_image_build(SQUID_IMAGE, None, settings))
    for build, planned in zip(builds, (planned_registry_name(registry, b) for b in launched), strict=True):
        pushed = push_image(engine, build, registry)
        print(pushed, flush=True)
        if pushed != planned:  # the image trusts a CA from --extra-ca, or one kept from an earlier build
            info(f"note: a Kubernetes launch asks for {planned} unless {ENVIRONMENT['extra_ca']} "
                 "names the CA this image trusts, there as here")  # fmt: skip
    return 0
