"""The warm pool's key and the reasons a plan is not pooled (pure).

A pooled bottle is made before anyone asks for it, so it may differ from a cold
one only in what is handed in at the claim: the agent's variables (through the
command's exec), the sidecar's credentials (bottle/sidecar.py), its files
(copied in, as for a cold bottle) and the session.
Everything the engine fixes when it makes the network, the sidecar and the
agent container must match exactly, and is in the key."""

from __future__ import annotations

import hashlib
import json

from claude_bottle.plan.plan import LaunchPlan, _positive_seconds
from claude_bottle.settings import ENVIRONMENT, Settings

# What a plan says of where its bottle comes from.
COLD = "cold"
WARM = "from the warm pool"


def pool_key(plan: LaunchPlan) -> str:
    """A hash of everything a pooled bottle fixes in advance; equal for plans
    whose bottles are interchangeable, whatever their secrets, files or session."""
    lim = plan.bottle.limits
    fixed = {
        "agent": plan.agent.name,  # its objects' labels and container name
        "image": plan.image,
        "runtime": plan.bottle.runtime,
        "limits": [lim.pids, lim.memory, lim.cpus, lim.disk],
        "home": plan.container_home,
        # The names bound (not their values): they shape the agent's environment.
        "env": sorted(plan.env_names),
        "sidecar_image": plan.sidecar_image,
        "proxy": plan.bottle.egress.proxy,
        # The sidecar's whole configuration: allowlist, internal hosts, DLP, SNI, ssh routes.
        "proxy_config": plan.proxy.render_config(plan.proxy_spec()),
        "egress_network": plan.egress_network,
        "subnets": str(plan.subnets),
        "labels": sorted(plan.extra_labels),
        "engine": plan.target.to_json(),
    }
    return hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()[:16]


def pool_refusal(plan: LaunchPlan) -> str | None:
    """Why this plan's bottle cannot come from a warm pool, or None.
    A credential is never baked into a pooled sidecar: one its proxy cannot
    take once it runs (ssh keys: its ssh-agent starts with it) is not pooled."""
    if plan.container_pinned:
        return "its container's name is pinned (CLAUDE_BOTTLE_CONTAINER), and a pooled one has its own"
    credentials = plan.credentials
    if credentials.injections and plan.proxy.hand_in(plan.proxy_spec(), {}) is None:
        held = ", ".join(dict.fromkeys(i.variable for i in credentials.injections))
        return (
            f"its sidecar holds credentials ({held}), and {plan.proxy.name} cannot be given them once it runs"
        )
    if credentials.held_keys:
        return "its sidecar holds ssh keys, which a pooled sidecar is never given"
    return None


IDLE_DEFAULT = 1800.0  # half an hour without a claim ends a keeper


def idle_seconds(settings: Settings) -> float:
    """How long a keeper waits with no claim before it ends (CLAUDE_BOTTLE_POOL_IDLE)."""
    return _positive_seconds(settings.pool_idle, ENVIRONMENT["pool_idle"], IDLE_DEFAULT)
