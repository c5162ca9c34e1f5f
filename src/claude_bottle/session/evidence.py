"""What a session writes into its record (workspace/record.py) as it goes: its
start, its containers and their images, and at its end every egress decision,
the transcripts and the work kept. Approvals are written by whoever approves
(bottle/approval.py), into the same record."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_bottle import package_data
from claude_bottle.engine.api import Engine
from claude_bottle.errors import EngineError
from claude_bottle.manifest.trust import trust_facts
from claude_bottle.paths import HostPaths
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.plan.render import plan_json
from claude_bottle.proxies.events import EgressEvent
from claude_bottle.workspace.harvest import HarvestResult
from claude_bottle.workspace.record import SessionRecord, by_whom, file_facts, now
from claude_bottle.workspace.session_folders import SessionFolder


def egress_entry(event: EgressEvent) -> dict[str, Any]:
    return {
        "host": event.host, "port": event.port, "allowed": event.allowed, "outcome": event.outcome,
        "reason": event.reason, "failure": event.failure, "method": event.method, "ts": event.ts,
        "warning": event.warning,
    }  # fmt: skip


def work_entry(result: HarvestResult, folder: Path) -> dict[str, Any]:
    """What came back, with each file's size and digest (a branch: its bundle's)."""
    data: dict[str, Any] = {**result.to_json(), "files": []}
    if result.kind == "files" and result.folder is not None:
        saved = result.folder / "files"
        data["files"] = file_facts(saved, sorted(p for p in saved.rglob("*") if p.is_file()))
    elif result.kind == "branch":
        bundles = sorted(folder.glob("*.bundle"))
        if bundles:
            data["bundle"] = file_facts(folder, bundles[-1:])[0]
    return data


class Evidence:
    """A session's record, written from the CLI that owns the session."""

    def __init__(self, plan: LaunchPlan, folder: SessionFolder, paths: HostPaths) -> None:
        self.plan = plan
        self.folder = folder
        self.record = SessionRecord.in_folder(folder.path)
        self.paths = paths
        self._lock = threading.Lock()
        self._begun = False

    def begin(self) -> None:
        """The session's first entry: its plan, manifest, engine and who started it (once)."""
        with self._lock:
            if self._begun:
                return
            self._begun = True
            plan = self.plan
            self.record.append("session", {
                "session": plan.session_id, "agent": plan.agent.name, "bottle": plan.bottle.name,
                "started": now(), "claude_bottle": package_data.version(), "plan": plan_json(plan),
                "manifest": trust_facts(plan.manifest_source, plan.manifest_digest, self.paths),
                "engine": plan.target.to_json(), "by": by_whom("start" if plan.interactive else "run"),
                # What the sidecar's configuration was made from: an approval renders it again.
                "proxy": {"name": plan.bottle.egress.proxy, "spec": plan.proxy_spec().to_json()},
            })  # fmt: skip

    def containers(self, engine: Engine, agent: str, sidecar: str) -> None:
        """The containers and the ids of the images they run (an id the engine
        would not tell is recorded empty, with why: the session goes on)."""
        self.begin()
        plan = self.plan

        def image(name: str, ref: str) -> dict[str, str]:
            try:
                return {"name": name, "image": ref, "image_id": engine.image_of(name)}
            except EngineError as exc:
                return {"name": name, "image": ref, "image_id": "", "unknown": str(exc)}

        self.record.append("containers", {
            "agent": image(agent, plan.image),
            "sidecar": {**image(sidecar, plan.sidecar_image), "proxy": plan.bottle.egress.proxy},
        })  # fmt: skip

    def approvals(self) -> list[dict[str, Any]]:
        return [entry["data"] | {"at": entry["at"]} for entry in self.record.of_kind("approval")]

    def finish(
        self,
        events: list[EgressEvent],
        transcripts: Path | None,
        work: HarvestResult | None,
        status: int | None,
    ) -> str:
        """Every egress decision, the transcripts and work kept, and the end; the head hash."""
        self.begin()
        entries: list[tuple[str, Mapping[str, Any]]] = [("egress", egress_entry(e)) for e in events]
        if transcripts is not None:
            files = (
                sorted(p for p in transcripts.rglob("*.jsonl") if p.is_file()) if transcripts.is_dir() else []
            )
            entries.append(("transcripts", {"files": file_facts(self.folder.path, files)}))
        if work is not None:
            entries.append(("work", work_entry(work, self.folder.path)))
        outcomes = [e.outcome for e in events]
        counts = {k: outcomes.count(k) for k in ("answered", "failed", "refused")}
        counts["approvals"] = len(self.record.of_kind("approval"))
        entries.append(("end", {"ended": now(), "status": status, "counts": counts}))
        return str(self.record.extend(entries)[-1]["hash"])
