"""A bottle's pods as they come and go on the cluster: waiting for one to run or
to end (reading its events when it hangs), and removing pods with what goes
with them (their Secrets and policies)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from claude_bottle.engine.k8s import meta
from claude_bottle.engine.k8s import status as podstatus
from claude_bottle.engine.k8s.cluster import Cluster
from claude_bottle.engine.k8s.config import KubernetesSettings
from claude_bottle.errors import ClaudeBottleError, EngineError, NotFound

GONE_TIMEOUT = 60.0
POLL = 0.2
EVENTS_AFTER = 3.0  # seconds Pending before the pod's warning events are read


class KubernetesPods:
    """The cluster and the engine's settings, and the pods' lifecycle on it."""

    def __init__(self, cluster: Cluster, settings: KubernetesSettings | None = None) -> None:
        self.cluster = cluster
        self.settings = settings or KubernetesSettings()
        self._runtime_classes: dict[str, str] | None = None

    def _wait_running(self, pod: str, name: str) -> None:
        started = time.monotonic()
        deadline = started + self.settings.timeout()
        next_events = started + EVENTS_AFTER
        while True:
            state = podstatus.pod_state(self.cluster.get("pods", pod))
            if state.state == "running":
                return
            if state.state in ("failed", "ended"):
                raise ClaudeBottleError(f"the container {name} did not start: {state.message}")
            now = time.monotonic()
            if now >= next_events:
                next_events = now + EVENTS_AFTER
                problem = podstatus.fatal_event(
                    self.cluster.list("events", field_selector=f"involvedObject.name={pod}")
                )
                if problem:
                    raise ClaudeBottleError(f"the container {name} did not start: {problem}")
            if now >= deadline:
                raise ClaudeBottleError(
                    f"the container {name} was not running after {self.settings.timeout():g} s "
                    f"(CLAUDE_BOTTLE_K8S_START_TIMEOUT); see 'kubectl -n {self.cluster.namespace} "
                    f"describe pod {pod}'"
                )
            time.sleep(POLL)

    def _wait_ended(self, pod: str, name: str) -> int:
        deadline = time.monotonic() + self.settings.timeout()
        while time.monotonic() < deadline:
            state = podstatus.pod_state(self.cluster.get("pods", pod))
            if state.state == "failed":
                raise ClaudeBottleError(f"{name} did not run: {state.message}")
            if state.state == "ended":
                code = podstatus.exit_code(self.cluster.get("pods", pod))
                return 1 if code is None else code
            time.sleep(POLL)
        raise ClaudeBottleError(f"{name} did not end within {self.settings.timeout():g} s")

    def _remove_pods(self, pods: Sequence[str], *, grace: int, wait: bool) -> list[str]:
        missing = []
        for pod in pods:
            try:
                self.cluster.delete("pods", pod, grace=grace)
            except NotFound:
                missing.append(pod)
            for kind in ("secrets", "networkpolicies"):
                for item in self.cluster.list(kind, f"{meta.POD}={pod}"):
                    self._quietly(functools.partial(self.cluster.delete, kind, item["metadata"]["name"]))
        if wait:
            deadline = time.monotonic() + GONE_TIMEOUT
            for pod in pods:
                while self._exists("pods", pod) and time.monotonic() < deadline:
                    time.sleep(POLL)
        return missing

    def _exists(self, kind: str, name: str) -> bool:
        try:
            self.cluster.get(kind, name)
        except NotFound:
            return False
        return True

    def _state(self, pod: str) -> podstatus.PodState | None:
        try:
            return podstatus.pod_state(self.cluster.get("pods", pod))
        except NotFound:
            return None

    @staticmethod
    def _quietly(call: Callable[[], object]) -> None:
        with contextlib.suppress(NotFound):
            call()

    @staticmethod
    def _optional(read: Callable[[], Any]) -> Any:
        """A read the user may not be allowed (cluster-scoped objects): None then."""
        try:
            return read()
        except NotFound:
            return None
        except EngineError as exc:
            if exc.status in (401, 403):
                return None
            raise
