"""The files a session puts in the agent's home: prompt, skills, ssh settings,
the parts of the user's own Claude Code setup the agent asked for, and where
the sidecar holds a credential, what points the agent's tools at it (git's
`insteadOf`, Claude Code's record of the API key it may use)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from claude_bottle.bottle.ssh import SshFiles, read_ssh_files, ssh_config
from claude_bottle.errors import UsageError
from claude_bottle.manifest.claude_setup import agent_claude_json
from claude_bottle.plan.plan import LaunchPlan
from claude_bottle.proxies.credentials import placeholder
from claude_bottle.safe_read import SETUP_FILE_MAX, HostFileProblem, read_capped, read_folder
from claude_bottle.tarball import Entry

PROMPT_NAME = ".claude-bottle-prompt.txt"


@dataclass(frozen=True)
class HomeFiles:
    """Everything read from the host for the home copy (read once, before launch)."""

    prompt: str
    skills: tuple[Entry, ...]
    ssh: SshFiles
    setup: tuple[Entry, ...] = ()
    claude_json: bytes | None = None  # the agent's ~/.claude.json, where the image's is not enough

    @classmethod
    def collect(cls, plan: LaunchPlan, home: Path, environ: Mapping[str, str] | None = None) -> HomeFiles:
        plan.refuse_host_file_problems()
        # The skills folder itself belongs to node, so the agent can add skills.
        skills: list[Entry] = [Entry(".claude/skills", None, 0o755)] if plan.skills else []
        for skill in plan.skills:
            skills += _folder_entries(skill.path, f".claude/skills/{skill.name}")
        servers = tuple(dict.fromkeys(s.name for item in plan.claude_setup for s in item.servers))
        key = _api_key(plan, os.environ if environ is None else environ)
        return cls(
            prompt=plan.agent.prompt,
            skills=tuple(skills),
            ssh=read_ssh_files(plan.ssh, plan.host_files, home, plan.agent.name, plan.credentials.held_keys),
            setup=tuple(setup_entries(plan, home)),
            claude_json=agent_claude_json(home, servers, plan.workspace, key) if servers or key else None,
        )

    def entries(self, plan: LaunchPlan, proxy_host: str, ssh_proxy_port: int) -> list[Entry]:
        out: list[Entry] = []
        if self.prompt:
            out.append(Entry(PROMPT_NAME, self.prompt.encode(), 0o600))
        out += self.skills
        out += self.setup
        if self.claude_json is not None:  # mode 600: an MCP server's definition may hold a token
            out.append(Entry(".claude.json", self.claude_json, 0o600))
        if plan.ssh:
            out.append(Entry(".ssh", None, 0o700))
            config = ssh_config(plan.ssh, proxy_host, ssh_proxy_port, self.ssh.held)
            out.append(Entry(".ssh/config", config.encode(), 0o600))
            out += [Entry(f".ssh/{name}", data, 0o600) for name, data in self.ssh.identities]
            out += [Entry(f".ssh/{key.name}.pub", key.public.encode(), 0o644) for key in self.ssh.held]
            if self.ssh.known_hosts:
                known = "\n".join(self.ssh.known_hosts) + "\n"
                out.append(Entry(".ssh/known_hosts", known.encode(), 0o644))
        if gitconfig := git_config(plan, proxy_host):
            out.append(Entry(".gitconfig", gitconfig.encode(), 0o644))
        return out


def git_config(plan: LaunchPlan, proxy_host: str) -> str:
    """Git's global configuration: each host the sidecar holds a token for is
    reached through its port (plain HTTP on the bottle's own network; the
    sidecar speaks TLS to the host and adds the token)."""
    held = [i for i in plan.credentials.injections if i.style == "git-basic"]
    return "".join(f'[url "{i.url(proxy_host)}/"]\n\tinsteadOf = https://{i.host}/\n' for i in held)


def _api_key(plan: LaunchPlan, environ: Mapping[str, str]) -> str | None:
    """The API key Claude Code will find in its environment (a placeholder where
    the sidecar holds the real one), or None: Claude Code asks about a key it
    has no record of, with "No" preselected, before it reaches its prompt."""
    name = "ANTHROPIC_API_KEY"
    binding = next((b for b in plan.env if b.name == name), None)
    if binding is None:
        return None
    if name in plan.credentials.placeholders:
        return placeholder(name)
    if binding.literal is not None:
        return binding.literal
    return environ.get(binding.host_var or name)


def setup_entries(plan: LaunchPlan, home: Path) -> list[Entry]:
    """The user's setup parts, read now (MCP servers go into ~/.claude.json,
    made by `collect`). ~/.claude itself is made first, so a part never creates
    it with the wrong owner."""
    if not plan.claude_setup:
        return []
    out = [Entry(".claude", None, 0o755)]
    for item in plan.claude_setup:
        if item.servers:
            continue
        if item.source.is_dir():
            # The user's own files: a file linked from a dotfiles repository is followed.
            out += _folder_entries(item.source, item.dest, follow_file_links=True)
        else:
            try:
                out.append(Entry(item.dest, read_capped(item.source, SETUP_FILE_MAX), 0o644))
            except HostFileProblem as exc:
                raise UsageError(f"claude_setup {item.part}: {exc}") from None
    return out


def _folder_entries(root: Path, dest: str, follow_file_links: bool = False) -> list[Entry]:
    """A folder as read by safe_read.read_folder (no link out of it, special
    files skipped, capped), its entries under `dest`."""
    try:
        items = read_folder(root, follow_file_links)
    except HostFileProblem as exc:
        raise UsageError(str(exc)) from None
    return [Entry(dest, None, 0o755), *(Entry(f"{dest}/{i.rel}", i.data, i.mode) for i in items)]
