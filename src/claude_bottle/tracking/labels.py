"""Labels every engine object carries: the backstop that `cleanup`, `ps` and
`stop` use to find what claude-bottle made. Nothing is found by name pattern."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from claude_bottle.errors import UsageError
from claude_bottle.settings import Settings

NS = "dev.claude-bottle"
MANAGED = f"{NS}.managed"
SESSION = f"{NS}.session"
AGENT = f"{NS}.agent"
BOTTLE = f"{NS}.bottle"
ROLE = f"{NS}.role"
OWNER_PID = f"{NS}.owner-pid"
OWNER_START = f"{NS}.owner-start"
OWNER_HOST = f"{NS}.owner-host"
RUNTIME = f"{NS}.runtime"
EGRESS = f"{NS}.egress"
PROXY = f"{NS}.proxy"  # on the sidecar: which backend's log `egress` reads
WORKSPACE = f"{NS}.workspace"
POOL = f"{NS}.pool"  # a warm pool's bottle: its configuration's key (plan/pool.py)
IMAGE_HASH = f"{NS}.image-hash"
IMAGE_CA_HASH = f"{NS}.image-ca-hash"
# What an engine reads back of an object it finds (engine.api.Engine.find's `carried`).
ALL = (MANAGED, SESSION, AGENT, BOTTLE, ROLE, OWNER_PID, OWNER_START, OWNER_HOST, RUNTIME, EGRESS, PROXY,
       WORKSPACE, POOL)  # fmt: skip

ROLE_AGENT = "agent"
ROLE_SIDECAR = "sidecar"
ROLE_INTERNAL_NET = "internal-network"
ROLE_EGRESS_NET = "egress-network"
ROLE_SHARED_EGRESS_NET = "shared-egress-network"
ROLE_PORT_GUARD = "port-guard"
ROLE_DOCTOR_ORIGIN = "doctor-origin"


@dataclass(frozen=True)
class Owner:
    """The process that owns a session; pid plus start time defeats pid reuse."""

    pid: int
    start: str
    host: str


def session_labels(
    session_id: str, agent: str, bottle: str, owner: Owner, extra: Iterable[tuple[str, str]] = ()
) -> dict[str, str]:
    """What every object of a session carries: the user's own labels
    (CLAUDE_BOTTLE_LABELS, `extra`), then claude-bottle's."""
    return {
        **dict(extra),
        MANAGED: "1",
        SESSION: session_id,
        AGENT: agent,
        BOTTLE: bottle,
        OWNER_PID: str(owner.pid),
        OWNER_START: owner.start,
        OWNER_HOST: owner.host,
    }


def for_role(labels: Mapping[str, str], role: str) -> dict[str, str]:
    """A session's labels for one of its objects."""
    return {**labels, ROLE: role}


_USER_LABEL_KEY = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,127}$")


def user_labels(settings: Settings) -> tuple[tuple[str, str], ...]:
    """Extra labels for every object of a session, from CLAUDE_BOTTLE_LABELS
    ("key=value,key=value"): a CI job can tag its bottles, and find or count
    them, without touching anyone else's. claude-bottle's own keys are refused."""
    raw = settings.labels.strip()
    out = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not _USER_LABEL_KEY.match(key) or key.startswith(NS + ".") or len(value) > 256:
            raise UsageError(
                f"CLAUDE_BOTTLE_LABELS: '{item}' is not a label key=value "
                f"(key in lower case, not under {NS}, value of at most 256 characters)"
            )
        out.append((key, value))
    return tuple(out)
