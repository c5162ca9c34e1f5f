"""Everything a manifest lets into its bottles, for the person deciding to trust
it (`trust`, and `start`'s trust question): each bottle's runtime, limits and
egress (allowlist, internal hosts, proxy, DLP, SNI, the network out), and for
each agent every variable with where its value comes from, its ssh hosts and
ports, its prompt (size and first lines), each skill's files, and every host
file with the path it resolves to. What the trust then pins is in trust.py.

Text from the manifest or its files is shown with control characters escaped:
a prompt or a literal holding a terminal escape sequence must not rewrite the
screen the person is reading. A literal that looks like a secret (by its name
or its shape) is not shown, only its length; a URL is shown by its host.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from claude_bottle.hostnames import host_of_url
from claude_bottle.manifest.host_files import agent_host_files
from claude_bottle.manifest.model import Agent, Bottle, EnvVar, Manifest, SshEntry
from claude_bottle.safe_read import HostFileProblem, read_folder, size_text
from claude_bottle.secret_shapes import holds_secret

PROMPT_LINES = 5  # first lines of a prompt shown
SKILL_FILES_SHOWN = 50
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|KEY|CREDENTIAL|AUTH|PRIVATE|COOKIE|SESSION", re.IGNORECASE)


def shown(text: str, limit: int = 100) -> str:
    """`text` safe for a terminal: control characters escaped, cut at `limit` characters."""
    cut = text if len(text) <= limit else text[:limit] + "..."
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in cut)


def env_origin(var: EnvVar) -> str:
    """Where a variable's value comes from, without showing a value that may be secret."""
    if var.host_var is not None:
        return f"from your ${var.host_var}" + (" (if set)" if var.optional else "")
    value = var.literal or ""
    if _SECRET_NAME.search(var.name) or holds_secret(value):
        return f"a literal of {len(value)} characters (not shown: it may be a secret)"
    if "://" in value and (host := host_of_url(value)):
        return f"a literal URL on host {host}"
    return f'the literal "{shown(value, 80)}"'


def bottle_lines(bottle: Bottle) -> list[str]:
    eg, lim = bottle.egress, bottle.limits
    lines = [
        f"bottle {bottle.name}: runtime {bottle.runtime}; limits memory {lim.memory}, cpus {lim.cpus:g}, "
        f"pids {lim.pids}, disk {lim.disk}",
        f"  egress allow {', '.join(eg.allow) or '(none)'}",
    ]
    if eg.internal:
        lines.append(f"  egress internal (private addresses allowed) {', '.join(eg.internal)}")
    out = f"; way out through network {eg.network}" if eg.network else ""
    sni = "on" if eg.sni else "OFF (egress.sni: false: TLS server names are not checked)"
    lines.append(f"  egress proxy {eg.proxy}, dlp {eg.dlp}, sni {sni}{out}")
    return lines


def ssh_line(entry: SshEntry) -> str:
    target = entry.host if entry.target == entry.host else f"{entry.host} (HostName {entry.target})"
    user = f"as {entry.user}, " if entry.user else ""
    return f"ssh {target}: {user}port {entry.port or 22}"


def prompt_lines(prompt: str) -> list[str]:
    lines = prompt.splitlines()
    size = len(prompt.encode())
    head = [f"  | {shown(line)}" for line in lines[:PROMPT_LINES]]
    more = [f"  | ... ({len(lines) - PROMPT_LINES} more line(s))"] if len(lines) > PROMPT_LINES else []
    return [f"  {size_text(size)}, {len(lines)} line(s); it begins:", *head, *more]


def skill_file_lines(folder: Path) -> list[str]:
    try:
        items = [i for i in read_folder(folder) if i.data is not None]
    except HostFileProblem as exc:
        return [f"  (cannot be read: {exc})"]
    lines = [
        f"  | {shown(i.rel)} ({size_text(len(i.data or b''))}" + (", executable)" if i.mode & 0o111 else ")")
        for i in items[:SKILL_FILES_SHOWN]
    ]
    if len(items) > SKILL_FILES_SHOWN:
        lines.append(f"  | ... and {len(items) - SKILL_FILES_SHOWN} more file(s)")
    return lines


# Where each of an agent's secrets would be (plan/credentials.py: by a variable's
# name, or "ssh key IDENTITYFILE"): the manifest layer knows no proxy.
Custody = Callable[[Manifest, Agent], Mapping[str, str]]


def agent_lines(manifest: Manifest, agent: Agent, home: Path, custody: Custody | None = None) -> list[str]:
    where = custody(manifest, agent) if custody else {}

    def held(name: str, what: str = "") -> str:
        return f"; {what}{where[name]}" if name in where else ""

    body = [f"env {var.name} {env_origin(var)}{held(var.name)}" for var in agent.env]
    body += [
        ssh_line(entry) + (held(f"ssh key {entry.identity_file}", "its key ") if entry.identity_file else "")
        for entry in agent.ssh
    ]
    if agent.prompt and agent.prompt_file is None:
        body += ["prompt (in the manifest)", *prompt_lines(agent.prompt)]
    for file in agent_host_files(manifest, agent, home):
        body.append(file.describe())
        if file.problem is None and file.role == "prompt file":
            body += prompt_lines(agent.prompt)
        elif file.problem is None and file.role == "skill":
            body += skill_file_lines(file.path)
    return [
        f"agent {agent.name} (bottle {agent.bottle}):",
        *(f"  {line}" for line in body or ["nothing more"]),
    ]


def inventory_lines(manifest: Manifest, home: Path, custody: Custody | None = None) -> list[str]:
    """Everything the manifest would let in, for a person deciding to trust it."""
    lines = [line for bottle in manifest.bottles.values() for line in bottle_lines(bottle)]
    for agent in manifest.agents.values():
        lines += agent_lines(manifest, agent, home, custody)
    return lines
