"""The session's keeper: the resource that, before the agent container is
removed, takes out what must not be lost (the agent's work and its Claude Code
transcript) into the session folder and the user's repository."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from claude_bottle.bottle.agent import AgentContainer
from claude_bottle.engine.api import Engine
from claude_bottle.plan.names import slugify
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.workspace.harvest import (
    HarvestResult,
    Transcripts,
    harvest_folder,
    harvest_git,
    save_transcripts,
)
from claude_bottle.workspace.outflow import Budget
from claude_bottle.workspace.session_folders import SessionFolder
from claude_bottle.workspace.source import WorkspaceSource, copy_folder_in


@dataclass(frozen=True)
class WorkTarget:
    """Where a session's work is taken from and brought to."""

    session_id: str
    agent: str
    workspace: str  # in the container
    source: WorkspaceSource
    home: str  # the agent's home in the container (CLAUDE_BOTTLE_CONTAINER_HOME)

    @classmethod
    def of(cls, plan: LaunchPlan, source: WorkspaceSource) -> WorkTarget:
        return cls(plan.session_id, plan.agent.name, plan.workspace, source, plan.container_home)

    @property
    def branch(self) -> str:
        return f"bottle/{slugify(self.agent)}/{self.session_id}"

    def uncommitted_message(self) -> str:
        return (
            "claude-bottle: changes left uncommitted in the bottle\n\n"
            f"Session {self.session_id} of agent {self.agent} ended with these changes not\n"
            "committed; claude-bottle committed them here so that nothing is lost."
        )


def harvest(
    engine: Engine,
    container: str,
    target: WorkTarget,
    folder: SessionFolder,
    label: str,
    budget: Budget | None = None,
) -> HarvestResult:
    src, ws = target.source, target.workspace
    budget = budget if budget is not None else Budget()
    if src.is_git:
        return harvest_git(
            engine,
            container,
            src,
            ws,
            folder,
            target.branch,
            target.uncommitted_message(),
            target.home,
            budget,
        )
    return harvest_folder(engine, container, src, ws, folder, label, budget)


class SessionKeeper(AbstractContextManager["SessionKeeper"]):
    def __init__(
        self,
        engine: Engine,
        plan: LaunchPlan,
        agent: AgentContainer,
        source: WorkspaceSource | None,
        folder: SessionFolder | None,
        budget: Callable[[], Budget] = Budget,
    ) -> None:
        self.engine = engine
        self.new_budget = budget  # the caps of what a session takes out (Budget.from_settings)
        self.plan = plan
        self.agent = agent
        self.source = source
        self.folder = folder
        self.copied = False
        self.result: HarvestResult | None = None
        self.transcripts: Transcripts | None = None

    def __enter__(self) -> SessionKeeper:
        return self

    def copy_in(self) -> None:
        if self.source is None:
            return
        copy_folder_in(self.engine, self.agent.name, self.source, self.plan.workspace)
        self.copied = True

    def __exit__(self, *exc: Any) -> None:
        if self.folder is None:
            return
        # One budget for all the session takes out; the transcripts are taken even
        # when the work could not be (what was taken stays).
        budget = self.new_budget()
        try:
            if self.source is not None and self.copied:
                target = WorkTarget.of(self.plan, self.source)
                self.result = harvest(self.engine, self.agent.name, target, self.folder, "final", budget)
                self.folder.update(work=self.result.to_json())
        finally:
            home = self.plan.container_home
            self.transcripts = save_transcripts(self.engine, self.agent.name, home, self.folder, budget)
