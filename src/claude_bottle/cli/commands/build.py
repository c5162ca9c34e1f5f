"""claude-bottle build: build (or confirm up to date) the agent image."""

from __future__ import annotations

import argparse
from typing import Any

from claude_bottle.bottle.image import agent_image_build, ensure_image, squid_image_build
from claude_bottle.console import info
from claude_bottle.engine.docker import DockerEngine
from claude_bottle.plan.launch_plan import DEFAULT_IMAGE
from claude_bottle.proxies.squid import IMAGE as SQUID_IMAGE
from claude_bottle.settings import Settings


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="build the agent and Squid sidecar images (skipped when up to date)")
    p.add_argument(
        "--extra-ca",
        metavar="PEM",
        help="CA certificates to trust inside the image, for TLS-intercepting proxies "
        "(also CLAUDE_BOTTLE_EXTRA_CA)",
    )
    p.add_argument("--force", action="store_true", help="rebuild even when up to date")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    engine = DockerEngine.locate()  # images are built by the Docker engine, whichever runs bottles
    tag = Settings.from_environ().image or DEFAULT_IMAGE
    for build in (agent_image_build(tag, args.extra_ca), squid_image_build(SQUID_IMAGE)):
        if not ensure_image(engine, build, force=args.force):
            info(f"image {build.tag} is up to date ({build.digest})")
    return 0
