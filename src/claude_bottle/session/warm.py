"""Where a launch's bottle comes from: a warm pool's ready bottle whose key
matches its plan exactly, claimed, else a cold start (and the plan says why)."""

from __future__ import annotations

from dataclasses import replace

from claude_bottle.paths import HostPaths
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.plan.pool import COLD, WARM, pool_key, pool_refusal
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


def claim_ready(plan: LaunchPlan, paths: HostPaths) -> tuple[LaunchPlan, Claim | None]:
    """Take a ready bottle for this plan, if one matches: the plan becomes the
    pooled bottle's (its session and container), and says so; else the plan
    says why it starts cold."""
    refusal = pool_refusal(plan)
    if refusal is not None:
        return replace(plan, start=(COLD, refusal)), None
    folder = PoolFolder.of(paths.state, pool_key(plan))
    taken = folder.claim(current_owner())
    if taken is None:
        return replace(plan, start=(COLD, NONE_READY)), None
    claimed = replace(
        plan, session_id=taken.session_id, container=taken.container, start=(WARM, taken.container)
    )
    return claimed, Claim(folder, taken)
