"""claude-bottle doctor [--engine docker|kubernetes] [--json]: check the engine,
runtimes and images, then prove the egress wall on that engine with a throwaway
bottle against a throwaway origin. Exit status 0 only when every check passed
and the wall held; --json prints the report (a CI job can gate on `ok`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from claude_bottle.console import block, info
from claude_bottle.engine.select import locate
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.paths import HostPaths
from claude_bottle.session.doctor import (
    Check,
    Report,
    doctor_images,
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
    p.add_argument("--json", action="store_true", help="print the report as JSON on standard output")
    p.set_defaults(handler=run)


def _show(checks: list[Check]) -> None:
    block("\n".join(f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks))


def run(args: argparse.Namespace) -> int:
    engine = locate(args.settings)
    report = Report(engine.target(), args.runtime)
    try:
        prove(engine, report, args.runtime, args.settings, args.paths)
    except ClaudeBottleError as exc:
        if not args.json:
            raise
        report.wall.append(Check("the throwaway bottle", False, str(exc)))
        info(str(exc))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    return 0 if report.ok else 1


def prove(engine: Any, report: Report, runtime: str, settings: Settings, paths: HostPaths) -> None:
    report.checks = engine_checks(engine, settings)
    _show(report.checks)
    if not all(c.ok for c in report.checks):
        info("doctor: fix the failures above first; the wall was not tried")
        return
    info(f"doctor: proving the egress wall on {report.engine.describe()} under {runtime} "
         "(a throwaway bottle and a throwaway origin)")  # fmt: skip
    image, _ = doctor_images(settings)
    with lab_origin(engine, new_doctor_session(), image, settings) as origin:
        plan = doctor_plan(origin, runtime, settings, paths, report.engine)
        report.tried = True
        with bottle(plan, engine, keep_record=False, settings=settings, paths=paths) as session:
            session.ready()
            assert plan.command is not None
            probe = session.agent.exec(plan.command)
    report.wall = wall_checks(probe, origin.host)
    _show(report.wall)
    info("doctor: the wall held; nothing was left behind" if report.ok else "doctor: THE WALL DID NOT HOLD")
