"""The files a session puts in the agent's home: prompt, skills, ssh settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from claude_bottle.plan import LaunchPlan
from claude_bottle.ssh import SshFiles, read_ssh_files, ssh_config
from claude_bottle.tarball import Entry

PROMPT_NAME = ".claude-bottle-prompt.txt"


@dataclass(frozen=True)
class HomeFiles:
    """Everything read from the host for the home copy (read once, before launch)."""

    prompt: str
    skills: tuple[Entry, ...]
    ssh: SshFiles

    @classmethod
    def collect(cls, plan: LaunchPlan, host_home: Path | None = None) -> HomeFiles:
        home = host_home or Path.home()
        skills: list[Entry] = []
        for skill in plan.skills:
            skills += _folder_entries(skill.path, f".claude/skills/{skill.name}")
        return cls(
            prompt=plan.agent.prompt,
            skills=tuple(skills),
            ssh=read_ssh_files(plan.ssh, home, plan.agent.name),
        )

    def entries(self, plan: LaunchPlan, proxy_host: str, proxy_port: int) -> list[Entry]:
        out: list[Entry] = []
        if self.prompt:
            out.append(Entry(PROMPT_NAME, self.prompt.encode(), 0o600))
        out += self.skills
        if plan.ssh:
            out.append(Entry(".ssh", None, 0o700))
            out.append(Entry(".ssh/config", ssh_config(plan.ssh, proxy_host, proxy_port).encode(), 0o600))
            out += [Entry(f".ssh/{name}", data, 0o600) for name, data in self.ssh.identities]
            if self.ssh.known_hosts:
                known = "\n".join(self.ssh.known_hosts) + "\n"
                out.append(Entry(".ssh/known_hosts", known.encode(), 0o644))
        return out


def _folder_entries(root: Path, dest: str) -> list[Entry]:
    """A skill folder, files and subfolders, without following links out of it."""
    out = [Entry(dest, None, 0o755)]
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel = Path(folder).relative_to(root)
        for d in dirs:
            out.append(Entry(f"{dest}/{(rel / d).as_posix()}", None, 0o755))
        for f in sorted(files):
            path = Path(folder) / f
            if path.is_symlink() or not path.is_file():
                continue
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            out.append(Entry(f"{dest}/{(rel / f).as_posix()}", path.read_bytes(), mode))
    return out
