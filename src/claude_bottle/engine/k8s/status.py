"""What a pod's status says about starting it (pure): running, still on its
way, or failed for a reason worth saying now rather than after a timeout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

# Waiting reasons that do not go away by waiting (the kubelet retries some,
# with back-off, but what it needs is missing: an image, a valid config).
FATAL_WAITING = frozenset({
    "ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
    "CrashLoopBackOff", "ContainerCannotRun",
})  # fmt: skip
# A config error the kubelet clears by itself: its cache of the pod's Secret or
# ConfigMap did not sync in time (a busy node; seen on the test cluster while
# other sessions' objects were being deleted). It retries the pod, so the start
# waits on, still bounded by its deadline. A missing Secret says "not found".
TRANSIENT_CONFIG_ERROR = "failed to sync"
# Warning events of a pod that stays Pending with them: its sandbox or volumes cannot be made.
FATAL_EVENTS = frozenset({"FailedCreatePodSandBox", "FailedMount"})
HINTS = {
    "ErrImageNeverPull": "the image is not on the node; import it there, or build and push it to a "
    "registry the cluster pulls from",
    "ErrImagePull": "the node cannot pull the image; name an image the cluster can reach",
    "ImagePullBackOff": "the node cannot pull the image; name an image the cluster can reach",
}


@dataclass(frozen=True)
class PodState:
    state: Literal["running", "pending", "failed", "ended"]
    message: str = ""


def pod_state(pod: Mapping[str, Any]) -> PodState:
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    containers = status.get("containerStatuses") or []
    for c in containers:
        waiting = (c.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        detail = str(waiting.get("message") or "").strip()
        if reason == "CreateContainerConfigError" and detail.startswith(TRANSIENT_CONFIG_ERROR):
            continue
        if reason in FATAL_WAITING:
            hint = HINTS.get(reason)
            text = f"{reason}" + (f": {detail}" if detail else "") + (f" ({hint})" if hint else "")
            return PodState("failed", text)
    if phase in ("Succeeded", "Failed"):
        return PodState("ended", _ended(containers) or f"the pod's phase is {phase}")
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return PodState("failed", f"Unschedulable: {cond.get('message') or 'no node fits the pod'}")
    if phase == "Running" and containers and all("running" in (c.get("state") or {}) for c in containers):
        return PodState("running")
    return PodState("pending")


def _ended(containers: Sequence[Mapping[str, Any]]) -> str:
    for c in containers:
        ended = (c.get("state") or {}).get("terminated") or {}
        if ended:
            reason = ended.get("reason") or "exited"
            return f"its container ended ({reason}, exit {ended.get('exitCode')})" + (
                f": {ended['message'].strip()}" if ended.get("message") else ""
            )
    return ""


def exit_code(pod: Mapping[str, Any]) -> int | None:
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        ended = (c.get("state") or {}).get("terminated")
        if ended:
            return int(ended.get("exitCode", 1))
    return None


def fatal_event(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The message of a warning event that means the pod will not start."""
    for event in events:
        if event.get("type") == "Warning" and event.get("reason") in FATAL_EVENTS:
            return f"{event['reason']}: {str(event.get('message') or '').strip()}"
    return None


def age(created: str, now: datetime | None = None) -> str:
    """How long ago a timestamp (RFC 3339, as the API writes it) was, in Docker's words."""
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return ""
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size} {unit} ago"
    if seconds >= 60:
        return "About a minute ago"
    return f"{max(seconds, 1)} seconds ago"
