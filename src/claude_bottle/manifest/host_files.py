"""What a manifest lets into a bottle from the host: every file, with the path it
resolves to and why it is refused if it is. The plan, `trust` and `start`'s trust
question show them (manifest/inventory.py), so nothing is read unshown."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from claude_bottle.manifest.claude_setup import SetupProblem, resolve_part
from claude_bottle.manifest.model import Agent, Manifest
from claude_bottle.manifest.skills import find_skill
from claude_bottle.safe_read import (
    KNOWN_HOSTS_MAX,
    identity_path,
    identity_problem,
    regular_file_problem,
    size_text,
)


@dataclass(frozen=True)
class HostFile:
    """One host file or folder a session would copy into the bottle."""

    role: str  # "prompt file", "skill", "identity file", "known_hosts", "claude setup"
    declared: str  # as the manifest names it
    path: Path  # resolved
    where: str  # the manifest's JSON path
    problem: str | None = None  # why it will not be copied; the launch refuses then

    def describe(self) -> str:
        shown = self.declared if self.declared == str(self.path) else f"{self.declared} -> {self.path}"
        return f"{self.role} {shown}" + (f" (REFUSED: {self.problem})" if self.problem else "")


def known_hosts_file(home: Path) -> Path:
    return home / ".ssh" / "known_hosts"


def agent_host_files(manifest: Manifest, agent: Agent, home: Path) -> tuple[HostFile, ...]:
    base = f"agents.{agent.name}"
    out: list[HostFile] = []
    if agent.prompt_file is not None:
        name = agent.prompt_file_name
        out.append(HostFile("prompt file", name, agent.prompt_file, f"{base}.prompt_file"))
    for i, name in enumerate(agent.skills):
        folder = find_skill(name, manifest.base_dir, home)
        problem = None if folder is not None else "not found"
        out.append(HostFile("skill", name, folder or Path(name), f"{base}.skills[{i}]", problem))
    for i, entry in enumerate(agent.ssh):
        if entry.identity_file is None:
            continue
        path = identity_path(entry.identity_file, home).resolve()
        where = f"{base}.ssh[{i}].IdentityFile"
        out.append(HostFile("identity file", entry.identity_file, path, where, identity_problem(path, home)))
    bottle = manifest.bottles[agent.bottle]
    for i, part in enumerate(agent.claude_setup):
        # The user's own ~/.claude parts (MCP definitions may hold tokens): a
        # manifest asks for them, so they are shown with the rest.
        where = f"{base}.claude_setup[{i}]"
        try:
            item = resolve_part(part, home, bottle.egress.all_hosts, bottle.name)
        except SetupProblem as exc:
            out.append(HostFile("claude setup", part, home / ".claude", where, str(exc)))
            continue
        out.append(HostFile("claude setup", item.text, item.source.resolve(), where))
    known = known_hosts_file(home)
    if agent.ssh and known.exists():
        problem = regular_file_problem(known)
        if problem is None and known.stat().st_size > KNOWN_HOSTS_MAX:
            problem = f"larger than {size_text(KNOWN_HOSTS_MAX)}"
        out.append(HostFile("known_hosts", str(known), known.resolve(), f"{base}.ssh", problem))
    return tuple(out)
