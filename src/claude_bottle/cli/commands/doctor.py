"""claude-bottle doctor: check the engine, runtimes and images, then prove the
egress wall on this engine with a throwaway bottle against a local origin.
Exit status 0 only when every check passed and the wall held."""

from __future__ import annotations

import argparse
from typing import Any

from claude_bottle.console import block, info
from claude_bottle.engine.select import locate
from claude_bottle.plan.launch_plan import DEFAULT_IMAGE
from claude_bottle.session.doctor import (
    Check,
    doctor_plan,
    engine_checks,
    lab_origin,
    new_doctor_session,
    wall_checks,
)
from claude_bottle.session.launch import bottle
from claude_bottle.settings import Settings


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="check the engine and images, and prove the egress wall on this engine")
    p.add_argument(
        "--runtime", choices=("runc", "runsc"), default="runc", help="the runtime to prove it under"
    )
    p.set_defaults(handler=run)


def _show(checks: list[Check]) -> None:
    block("\n".join(f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks))


def run(args: argparse.Namespace) -> int:
    engine = locate()
    sidecar_image = Settings.from_environ().sidecar_image
    checks = engine_checks(engine, sidecar_image)
    _show(checks)
    if not all(c.ok for c in checks):
        info("doctor: fix the failures above first; the wall was not tried")
        return 1
    info(f"doctor: proving the egress wall under {args.runtime} (a throwaway bottle and a local origin)")
    with lab_origin(engine, new_doctor_session(), DEFAULT_IMAGE) as origin:
        plan = doctor_plan(origin, args.runtime, DEFAULT_IMAGE, sidecar_image)
        with bottle(plan, engine) as session:
            session.ready()
            assert plan.command is not None
            probe = session.agent.exec(plan.command)
    wall = wall_checks(probe)
    _show(wall)
    held = all(c.ok for c in wall)
    info("doctor: the wall held; nothing was left behind" if held else "doctor: THE WALL DID NOT HOLD")
    return 0 if held else 1
