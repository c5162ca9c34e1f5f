"""claude-bottle pool NAME [-n N] | --stop: keep N bottles of an agent's (or a
bottle's) configuration started and ready, so that `run` and `start` claim one
instead of starting cold. On Docker a bottle is a network, a sidecar and an
agent container; on Kubernetes, the same as pods and NetworkPolicies."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import Any

from claude_bottle.cli.options import add_manifest_option, manifest_from_options, plan_from_options
from claude_bottle.console import info
from claude_bottle.engine.api import Engine
from claude_bottle.engine.select import locate
from claude_bottle.errors import ClaudeBottleError, UsageError
from claude_bottle.hostenv import watchdog_env
from claude_bottle.manifest.model import Manifest
from claude_bottle.manifest.trust import require_trust
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.plan.pool import idle_seconds, pool_key, pool_refusal
from claude_bottle.session.pool_keeper import Keeper, drain
from claude_bottle.settings import ENVIRONMENT
from claude_bottle.tracking.owner import owner_alive
from claude_bottle.tracking.pool import PoolFolder, pools_of, read_keeper

STOP_TIMEOUT = 120.0
OWN = "CLAUDE_BOTTLE_"  # seconds `--stop` waits for the keeper to remove its bottles


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="keep bottles of an agent's configuration ready for run and start")
    p.add_argument("name", help="an agent (or a bottle: its first agent) defined in claude-bottle.json")
    p.add_argument("-n", type=int, default=2, metavar="N", help="how many to keep ready (default 2)")
    p.add_argument("--stop", action="store_true", help="end the keeper and remove its ready bottles")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the keeper itself
    add_manifest_option(p)
    p.set_defaults(handler=run, cwd=False)


def agent_for(manifest: Manifest, name: str) -> str:
    """The agent `name` names, or the first agent of the bottle `name` names (pure)."""
    if name in manifest.agents:
        return name
    for agent in manifest.agents.values():
        if agent.bottle == name:
            return agent.name
    raise UsageError(f"{manifest.source}: no agent or bottle named '{name}'")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.n <= 50:
        raise UsageError(f"pool -n: from 1 to 50 bottles, got {args.n}")
    manifest = manifest_from_options(args)
    require_trust(manifest, args.paths)
    args.name = agent_for(manifest, args.name)
    engine = locate(args.settings)
    if args.stop:  # by the keepers' records: nothing of the agent's environment is needed
        return stop(engine, pools_of(args.paths.state, args.name), args.name)
    plan = plan_from_options(args, manifest, engine, interactive=False)
    refusal = pool_refusal(plan)
    if refusal is not None:
        raise UsageError(f"{args.name} is not pooled: {refusal}")
    folder = PoolFolder.of(args.paths.state, pool_key(plan))
    if args.serve:
        return Keeper(engine, plan, args.paths, args.n, idle_seconds(args.settings)).run(args.settings)
    keeper = read_keeper(folder)
    if keeper is not None:
        info(f"a keeper (pid {keeper.pid}) already keeps {args.name}'s bottles ready")
        return 0
    idle_seconds(args.settings)  # a bad value is refused here, not in the keeper's log
    pid = start_keeper(args, plan, folder)
    info(f"keeping {args.n} bottle(s) of {args.name} ready (keeper pid {pid}); "
         f"end with: claude-bottle pool {args.name} --stop")  # fmt: skip
    return 0


def keeper_env(args: argparse.Namespace, plan: LaunchPlan) -> dict[str, str]:
    """The keeper's environment: the watchdog's allowlist, the state folders, and
    the agent's host variables by name only (their values are never the keeper's:
    they are handed in at each claim)."""
    env = watchdog_env(os.environ, args.settings)
    env.update({k: v for k, v in os.environ.items() if k.startswith("XDG_")})
    for binding in plan.env:
        # The allowlist passes CLAUDE_BOTTLE_* on (the sign-in token among them): replaced too.
        if binding.host_var is not None and (binding.host_var not in env or binding.host_var.startswith(OWN)):
            env[binding.host_var] = "-"
    if env.get(ENVIRONMENT["oauth_token"]):
        env[ENVIRONMENT["oauth_token"]] = "-"  # set (its plan binds it), never its value
    return env


def start_keeper(args: argparse.Namespace, plan: LaunchPlan, folder: PoolFolder) -> int:
    folder.root.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "claude_bottle", "pool", args.name, "-n", str(args.n), "--serve"]
    if args.manifest:
        argv += ["--manifest", os.path.abspath(args.manifest)]
    with open(folder.root / "keeper.log", "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env=keeper_env(args, plan))  # fmt: skip
    # Its record names it once it runs: a `--stop` right after finds it.
    deadline = time.monotonic() + 30
    while read_keeper(folder) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        raise ClaudeBottleError(f"the pool's keeper ended at once (exit {proc.returncode}); "
                                f"its log: {folder.root / 'keeper.log'}")  # fmt: skip
    return proc.pid


def stop(engine: Engine, folders: list[PoolFolder], name: str) -> int:
    stopped = 0
    for folder in folders:
        keeper = read_keeper(folder)
        if keeper is not None:
            os.kill(keeper.pid, signal.SIGTERM)
            stopped += 1
            # It removes its record last, once its bottles are gone.
            deadline = time.monotonic() + STOP_TIMEOUT
            while folder.keeper_file.exists() and owner_alive(keeper) and time.monotonic() < deadline:
                time.sleep(0.1)
            if folder.keeper_file.exists() and owner_alive(keeper):
                raise ClaudeBottleError(
                    f"the pool's keeper (pid {keeper.pid}) did not end within {STOP_TIMEOUT:g}s"
                )
        drain(engine, folder)  # what a keeper that died left ready
        folder.keeper_file.unlink(missing_ok=True)
    info(f"the warm pool of {name} is stopped" if stopped else f"no keeper was running for {name}")
    return 0
