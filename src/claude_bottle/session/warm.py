"""Where a launch's bottle comes from: a warm pool's ready bottle whose key
matches its plan exactly, claimed, else a cold start (and the plan says why)."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from claude_bottle.bottle.readiness import ended_since
from claude_bottle.engine.api import Engine
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.paths import HostPaths
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.plan.pool import COLD, WARM, pool_key, pool_refusal
from claude_bottle.tracking.inventory import remove_session
from claude_bottle.tracking.owner import current_owner
from claude_bottle.tracking.pool import Claim, PoolFolder, read_keeper

NONE_READY = "no warm pool of this configuration has a bottle ready"


def peek(plan: LaunchPlan, paths: HostPaths) -> LaunchPlan:
    """The plan, saying where its bottle would come from now (nothing is claimed)."""
    refusal = pool_refusal(plan)
    if refusal is not None:
        return replace(plan, start=(COLD, refusal))
    folder = PoolFolder.of(paths.state, pool_key(plan))
    ready = len(folder.waiting())
    if ready and read_keeper(folder) is not None:
        return replace(plan, start=(WARM, f"{ready} ready"))
    return replace(plan, start=(COLD, NONE_READY))


def claim_ready(plan: LaunchPlan, paths: HostPaths, engine: Engine) -> tuple[LaunchPlan, Claim | None]:
    """Take a ready bottle for this plan, if one matches and is still whole: the
    plan becomes the pooled bottle's (its session and container), and says so;
    else the plan says why it starts cold. A ready bottle a part of which
    ended since it was made (its keeper makes another) is removed, not used."""
    refusal = pool_refusal(plan)
    if refusal is not None:
        return replace(plan, start=(COLD, refusal)), None
    folder = PoolFolder.of(paths.state, pool_key(plan))
    while (taken := folder.claim(current_owner())) is not None:
        if ended_since(engine, taken.session_id, taken.container, taken.sidecar):
            with contextlib.suppress(ClaudeBottleError, OSError):
                remove_session(engine, taken.session_id)
            folder.release(taken.session_id)
            continue
        claimed = replace(
            plan, session_id=taken.session_id, container=taken.container, start=(WARM, taken.container)
        )
        return claimed, Claim(folder, taken)
    return replace(plan, start=(COLD, NONE_READY)), None
