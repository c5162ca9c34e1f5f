"""ssh inside a bottle: a config whose ProxyCommand tunnels through the sidecar
with HTTP CONNECT, the matching known_hosts lines, and the named keys: held by
the sidecar's ssh-agent (the bottle gets the public half, to pick the key by,
and an agent socket relayed to the sidecar), or copied in where the manifest
says `"inject": false` or the proxy has no agent."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from claude_bottle.errors import UsageError
from claude_bottle.hostenv import plain_env
from claude_bottle.manifest.host_files import HostFile
from claude_bottle.manifest.model import SshEntry
from claude_bottle.safe_read import (
    IDENTITY_MAX,
    KNOWN_HOSTS_MAX,
    HostFileProblem,
    identity_problem,
    read_capped,
)

# Where the agent's ssh finds its agent, under its home: a socket in the bottle
# relayed to the sidecar's ssh-agent (bottle/agent.py starts the relay).
AGENT_SOCKET = ".ssh/agent.sock"


@dataclass(frozen=True)
class HeldKey:
    """A key the sidecar's ssh-agent holds: its public half goes into the bottle."""

    name: str  # as an identity file's would be; the bottle gets NAME.pub
    private: bytes = field(repr=False)
    public: str = ""


@dataclass(frozen=True)
class SshFiles:
    """What goes into ~/.ssh, read from the host before anything starts."""

    identities: tuple[tuple[str, bytes], ...]  # (file name in ~/.ssh, content): inside the bottle
    known_hosts: tuple[str, ...]
    held: tuple[HeldKey, ...] = ()  # for the sidecar


def identity_name(entry: SshEntry, index: int) -> str:
    assert entry.identity_file is not None
    return f"id_bottle_{index}_{Path(entry.identity_file).name}"


def read_ssh_files(
    entries: tuple[SshEntry, ...],
    host_files: tuple[HostFile, ...],
    home: Path,
    agent: str,
    held: tuple[int, ...] = (),
) -> SshFiles:
    """The identity files, at the paths the plan resolved (`host_files`: no
    second lookup) and checked again as they are read (regular, under the home
    folder, the user's own, mode 600), those of the `held` entries as keys for
    the sidecar's ssh-agent, and the matching lines of the known_hosts file the
    plan found."""
    resolved = {f.where: f.path for f in host_files}
    identities = []
    keys = []
    for i, entry in enumerate(entries):
        if entry.identity_file is None:
            continue
        where = f"agents.{agent}.ssh[{i}].IdentityFile"
        if where not in resolved:
            raise UsageError(f"{where}: not among the plan's host files")
        path = resolved[where]
        problem = identity_problem(path, home)
        if problem:
            raise UsageError(f"{where}: {path}: {problem}")
        try:
            data = read_capped(path, IDENTITY_MAX)
        except HostFileProblem as exc:
            raise UsageError(f"{where}: {exc}") from None
        if i in held:
            keys.append(HeldKey(identity_name(entry, i), data, _public_half(data, f"{where}: {path}")))
        else:
            identities.append((identity_name(entry, i), data))
    if not entries:
        return SshFiles(identities=(), known_hosts=())
    # As found by the plan (its declared path: the file under ~/.ssh, not where a link leads).
    known = next((f.declared for f in host_files if f.role == "known_hosts"), None)
    lines: list[str] = []
    if known is not None:
        try:
            lines = read_capped(Path(known), KNOWN_HOSTS_MAX).decode("utf-8", "replace").splitlines()
        except HostFileProblem as exc:
            if Path(known).exists():
                raise UsageError(f"known_hosts for agent {agent}: {exc}") from None
    return SshFiles(tuple(identities), matching_known_hosts(lines, entries), tuple(keys))


def _public_half(private: bytes, where: str) -> str:
    """The public key of `private` (as read, not from the path again), which
    also proves it loads without a passphrase: the sidecar's ssh-agent is
    given it with no one to type one."""
    with tempfile.TemporaryDirectory(prefix="claude-bottle-key-") as folder:
        key = Path(folder) / "key"
        key.touch(mode=0o600)
        key.write_bytes(private)
        try:
            done = subprocess.run(
                ["ssh-keygen", "-y", "-P", "", "-f", str(key)],
                capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                env=plain_env(os.environ),
            )  # fmt: skip
        except FileNotFoundError:
            raise UsageError("ssh-keygen not found: it reads the public half of an ssh key") from None
    if done.returncode != 0 or not done.stdout.startswith(("ssh-", "ecdsa-", "sk-")):
        raise UsageError(
            f"{where}: not a key the sidecar's ssh-agent can hold (one with a passphrase "
            "cannot be unlocked there): give the bottle a key of its own without one, "
            'or set "inject": false on the entry to copy the key into the bottle'
        )
    return done.stdout.strip() + "\n"


def _host_keys(entry: SshEntry) -> tuple[str, ...]:
    port = entry.port or 22
    return (entry.target,) if port == 22 else (f"[{entry.target}]:{port}",)


def matching_known_hosts(lines: list[str], entries: tuple[SshEntry, ...]) -> tuple[str, ...]:
    """The known_hosts lines that name the entries' hosts, as ssh itself matches them
    (plain, hashed, wildcard and negated patterns): `ssh-keygen -F` decides, on a
    copy of exactly these lines. @cert-authority and @revoked lines stay behind."""
    if not lines:
        return ()
    found: dict[str, None] = {}  # ordered by entry, then by line
    with tempfile.NamedTemporaryFile("w", prefix="claude-bottle-known-", encoding="utf-8") as copy:
        copy.write("".join(line + "\n" for line in lines))
        copy.flush()
        for entry in entries:
            numbers: set[int] = set()
            for host in _host_keys(entry):
                numbers |= _lines_found(host, copy.name)
            found.update((lines[n - 1], None) for n in sorted(numbers) if not lines[n - 1].startswith("@"))
    return tuple(found)


def _lines_found(host: str, known_file: str) -> set[int]:
    try:
        out = subprocess.run(
            ["ssh-keygen", "-F", host, "-f", known_file],
            capture_output=True, text=True, check=False, env=plain_env(os.environ),
        ).stdout  # fmt: skip
    except FileNotFoundError:
        raise UsageError(
            "ssh-keygen not found: it decides which known_hosts lines an ssh entry needs"
        ) from None
    return {int(n) for n in re.findall(r"^# Host .* found: line (\d+)", out, re.MULTILINE)}


def ssh_config(
    entries: tuple[SshEntry, ...], proxy_host: str, proxy_port: int, held: tuple[HeldKey, ...] = ()
) -> str:
    held_names = {key.name for key in held}
    blocks = []
    for i, entry in enumerate(entries):
        lines = [f"Host {entry.host}", f"  HostName {entry.target}"]
        if entry.user:
            lines.append(f"  User {entry.user}")
        if entry.port:
            lines.append(f"  Port {entry.port}")
        name = identity_name(entry, i) if entry.identity_file else None
        if name in held_names:
            # The public half picks the key among the agent's; the agent signs.
            lines += [f"  IdentityFile ~/.ssh/{name}.pub", f"  IdentityAgent ~/{AGENT_SOCKET}"]
            lines.append("  IdentitiesOnly yes")
        elif name is not None:
            lines += [f"  IdentityFile ~/.ssh/{name}", "  IdentitiesOnly yes"]
        # No port forwarding out of a bottle: -L/-R/-D would be tunnels within a tunnel.
        lines += [
            f"  ProxyCommand nc -X connect -x {proxy_host}:{proxy_port} %h %p",
            "  StrictHostKeyChecking accept-new",
            "  ClearAllForwardings yes",
        ]
        blocks.append("\n".join(lines))
    blocks.append("Host *\n  ClearAllForwardings yes")
    return "\n\n".join(blocks) + "\n"
