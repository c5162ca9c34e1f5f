"""The user's own Claude Code setup, by choice: parts of ~/.claude (and the user
scope MCP servers of ~/.claude.json) that an agent asks for with `claude_setup`.

Each part is copied in with the session's home files (never mounted) and listed
in the plan. An MCP server reached over HTTP must be on a host the bottle
allows: the allowlist stays the one truth about the way out. Resolving reads
files only; the MCP definitions themselves (which may hold tokens) are read at
launch and never enter the plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_bottle import agent_image
from claude_bottle.hostnames import any_host_matches, host_of_url
from claude_bottle.safe_read import CLAUDE_JSON_MAX, HostFileProblem, read_capped_text

FOLDERS = ("commands", "agents", "output-styles")
FILES = ("CLAUDE.md",)
PARTS = (*FILES, *FOLDERS, "mcp")
MCP_PREFIX = "mcp:"
PARTS_TEXT = '"CLAUDE.md", "commands", "agents", "output-styles", "mcp" or "mcp:NAME"'


class SetupProblem(Exception):
    """A requested part that cannot be copied; the message is for the manifest error."""


@dataclass(frozen=True)
class McpServer:
    name: str
    transport: str  # "stdio", "http" or "sse"
    target: str  # the host of an HTTP server, the command of a stdio one

    @property
    def text(self) -> str:
        return f"mcp {self.name} ({self.transport}, {self.target})"


@dataclass(frozen=True)
class SetupItem:
    """One part of the user's setup: a file or folder under ~/.claude, or MCP servers."""

    part: str  # as asked for: "CLAUDE.md", "commands", "mcp", "mcp:NAME"
    source: Path
    dest: str  # relative to the agent's home
    servers: tuple[McpServer, ...] = ()

    @property
    def text(self) -> str:
        if self.servers:
            return ", ".join(s.text for s in self.servers)
        return self.part + ("/" if self.part in FOLDERS else "")


def mcp_config_file(home: Path) -> Path:
    return home / ".claude.json"


def read_mcp_servers(home: Path) -> dict[str, dict[str, Any]]:
    """The user scope MCP servers (`mcpServers` in ~/.claude.json)."""
    file = mcp_config_file(home)
    if not file.exists():
        return {}
    try:
        data = json.loads(read_capped_text(file, CLAUDE_JSON_MAX))
    except (HostFileProblem, ValueError) as exc:
        raise SetupProblem(f"cannot read MCP servers from {file}: {exc}") from None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return {}
    return {str(k): v for k, v in servers.items() if isinstance(v, dict)}


def describe_server(name: str, definition: dict[str, Any]) -> McpServer:
    url = definition.get("url")
    if isinstance(url, str):
        transport = str(definition.get("type") or "http")
        host = host_of_url(url)
        if host is None:
            raise SetupProblem(f"MCP server '{name}' has a url without a host: '{url}'")
        return McpServer(name, transport, host)
    command = definition.get("command")
    if isinstance(command, str) and command:
        return McpServer(name, "stdio", command)
    raise SetupProblem(f"MCP server '{name}' has neither a url nor a command")


def _servers(part: str, home: Path, allowed: tuple[str, ...], bottle: str) -> tuple[McpServer, ...]:
    available = read_mcp_servers(home)
    file = mcp_config_file(home)
    if part == "mcp":
        if not available:
            raise SetupProblem(f"no MCP servers in {file} (add them with 'claude mcp add --scope user')")
        names = sorted(available)
    else:
        name = part[len(MCP_PREFIX) :]
        if name not in available:
            known = ", ".join(sorted(available)) or "none"
            raise SetupProblem(f"no MCP server named '{name}' in {file} (servers: {known})")
        names = [name]
    out = []
    for name in names:
        server = describe_server(name, available[name])
        if server.transport != "stdio" and not any_host_matches(server.target, allowed):
            raise SetupProblem(
                f"MCP server '{name}' reaches host '{server.target}', which bottle '{bottle}' does not "
                f"allow (add it to bottles.{bottle}.egress.allow, or leave the server out)"
            )
        out.append(server)
    return tuple(out)


def resolve_part(part: str, home: Path, allowed: tuple[str, ...], bottle: str) -> SetupItem:
    """What one requested part is on this machine, or a SetupProblem saying why not."""
    claude = home / ".claude"
    if part in FILES:
        if not (claude / part).is_file():
            raise SetupProblem(f"'{part}' asked for, and {claude / part} is not a file")
        return SetupItem(part, claude / part, f".claude/{part}")
    if part in FOLDERS:
        if not (claude / part).is_dir():
            raise SetupProblem(f"'{part}' asked for, and {claude / part} is not a folder")
        return SetupItem(part, claude / part, f".claude/{part}")
    if part == "mcp" or (part.startswith(MCP_PREFIX) and len(part) > len(MCP_PREFIX)):
        return SetupItem(part, mcp_config_file(home), ".claude.json", _servers(part, home, allowed, bottle))
    raise SetupProblem(f"expected one of {PARTS_TEXT}, got '{part}'")


def resolve_setup(
    parts: tuple[str, ...], home: Path, allowed: tuple[str, ...], bottle: str
) -> tuple[SetupItem, ...]:
    return tuple(resolve_part(p, home, allowed, bottle) for p in parts)


# The agent image's ~/.claude.json (data/Dockerfile writes the same): the first
# run and folder trust answered once. MCP servers are merged into it, since the
# copy replaces the file.
IMAGE_CLAUDE_JSON: dict[str, Any] = {
    "hasCompletedOnboarding": True,
    "projects": {agent_image.WORKSPACE: {"hasTrustDialogAccepted": True}},
}


def agent_claude_json(
    home: Path, servers: tuple[str, ...], workspace: str, approved_key: str | None = None
) -> bytes:
    """The agent's ~/.claude.json: the image's answers, the chosen MCP servers'
    definitions (read now from the user's own), and `approved_key` (the last 20
    characters of the API key the agent holds: Claude Code's own record of a key
    the user said yes to, so it asks nothing about it)."""
    data = json.loads(json.dumps(IMAGE_CLAUDE_JSON))
    data["projects"] = {workspace: {"hasTrustDialogAccepted": True}}
    if servers:
        available = read_mcp_servers(home)
        data["mcpServers"] = {name: available[name] for name in servers if name in available}
    if approved_key is not None:
        data["customApiKeyResponses"] = {"approved": [approved_key[-20:]], "rejected": []}
    return (json.dumps(data, indent=2) + "\n").encode()
