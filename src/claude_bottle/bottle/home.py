"""The files a session puts in the agent's home: prompt, skills, ssh settings,
and the parts of the user's own Claude Code setup the agent asked for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from claude_bottle.bottle.ssh import SshFiles, read_ssh_files, ssh_config
from claude_bottle.engine.tarball import Entry
from claude_bottle.errors import UsageError
from claude_bottle.hostfiles import SETUP_FILE_MAX, HostFileProblem, read_capped, read_folder
from claude_bottle.manifest.claude_setup import claude_json_with_servers
from claude_bottle.plan.launch_plan import LaunchPlan

PROMPT_NAME = ".claude-bottle-prompt.txt"


@dataclass(frozen=True)
class HomeFiles:
    """Everything read from the host for the home copy (read once, before launch)."""

    prompt: str
    skills: tuple[Entry, ...]
    ssh: SshFiles
    setup: tuple[Entry, ...] = ()

    @classmethod
    def collect(cls, plan: LaunchPlan, host_home: Path | None = None) -> HomeFiles:
        home = host_home or Path.home()
        plan.refuse_host_file_problems()
        # The skills folder itself belongs to node, so the agent can add skills.
        skills: list[Entry] = [Entry(".claude/skills", None, 0o755)] if plan.skills else []
        for skill in plan.skills:
            skills += _folder_entries(skill.path, f".claude/skills/{skill.name}")
        return cls(
            prompt=plan.agent.prompt,
            skills=tuple(skills),
            ssh=read_ssh_files(plan.ssh, home, plan.agent.name),
            setup=tuple(setup_entries(plan, home)),
        )

    def entries(self, plan: LaunchPlan, proxy_host: str, ssh_proxy_port: int) -> list[Entry]:
        out: list[Entry] = []
        if self.prompt:
            out.append(Entry(PROMPT_NAME, self.prompt.encode(), 0o600))
        out += self.skills
        out += self.setup
        if plan.ssh:
            out.append(Entry(".ssh", None, 0o700))
            out.append(Entry(".ssh/config", ssh_config(plan.ssh, proxy_host, ssh_proxy_port).encode(), 0o600))
            out += [Entry(f".ssh/{name}", data, 0o600) for name, data in self.ssh.identities]
            if self.ssh.known_hosts:
                known = "\n".join(self.ssh.known_hosts) + "\n"
                out.append(Entry(".ssh/known_hosts", known.encode(), 0o644))
        return out


def setup_entries(plan: LaunchPlan, home: Path) -> list[Entry]:
    """The user's setup parts, read now. ~/.claude itself is made first, so a
    part never creates it with the wrong owner; MCP servers go into one
    ~/.claude.json (mode 600: a definition may hold a token)."""
    if not plan.claude_setup:
        return []
    out = [Entry(".claude", None, 0o755)]
    servers: list[str] = []
    for item in plan.claude_setup:
        if item.servers:
            servers += [s.name for s in item.servers if s.name not in servers]
        elif item.source.is_dir():
            # The user's own files: a file linked from a dotfiles repository is followed.
            out += _folder_entries(item.source, item.dest, follow_file_links=True)
        else:
            try:
                out.append(Entry(item.dest, read_capped(item.source, SETUP_FILE_MAX), 0o644))
            except HostFileProblem as exc:
                raise UsageError(f"claude_setup {item.part}: {exc}") from None
    if servers:
        out.append(
            Entry(".claude.json", claude_json_with_servers(home, tuple(servers), plan.workspace), 0o600)
        )
    return out


def _folder_entries(root: Path, dest: str, follow_file_links: bool = False) -> list[Entry]:
    """A folder as read by hostfiles.read_folder (no link out of it, special
    files skipped, capped), its entries under `dest`."""
    try:
        items = read_folder(root, follow_file_links)
    except HostFileProblem as exc:
        raise UsageError(str(exc)) from None
    return [Entry(dest, None, 0o755), *(Entry(f"{dest}/{i.rel}", i.data, i.mode) for i in items)]
