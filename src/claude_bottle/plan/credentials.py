"""Which of the agent's credentials its sidecar holds (pure; names, never values).

By default the sidecar holds (issue 22):
- the model credential Claude Code signs in with: ANTHROPIC_AUTH_TOKEN or a
  Claude subscription token (CLAUDE_CODE_OAUTH_TOKEN) as `Authorization:
  Bearer`, ANTHROPIC_API_KEY as `X-Api-Key`, for api.anthropic.com or the
  gateway a literal ANTHROPIC_BASE_URL names; the agent's ANTHROPIC_BASE_URL
  then points at the sidecar's port for that host. Another model credential in
  the plan, which Claude Code would not use, is not passed in either;
- GITHUB_TOKEN or GH_TOKEN, for github.com's git over HTTPS (as the password
  of a basic sign-in), where the bottle allows github.com; and any variable a
  manifest gives `"inject": "HOST"`, for that host the same way;
- the ssh keys (IdentityFile), in an ssh-agent the agent reaches over its
  network: it signs with them and never reads them.

A credential stays inside the bottle where the manifest says `"inject":
false`, where the proxy cannot add a header or hold a key (Pipelock), for
Amazon Bedrock and Google Vertex (their requests are signed, or their tokens
expire, where a header cannot be replaced once), and for a model endpoint taken
from the host's environment (its host is not known before launch). The plan
says, for each, where it is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from claude_bottle.hostnames import any_host_matches
from claude_bottle.manifest.model import Agent, EnvVar, Manifest, SshEntry
from claude_bottle.plan.signin import API_HOST, SignIn, decide_sign_in
from claude_bottle.proxies import backend_for
from claude_bottle.proxies.credentials import FIRST_PORT, MAX_INJECTIONS, Injection, Style

# In Claude Code's own order of preference (plan/signin.py).
MODEL_VARIABLES: dict[str, Style] = {
    "ANTHROPIC_AUTH_TOKEN": "bearer",
    "ANTHROPIC_API_KEY": "x-api-key",
    "CLAUDE_CODE_OAUTH_TOKEN": "bearer",
}
GIT_TOKEN_DEFAULTS = {"GITHUB_TOKEN": "github.com", "GH_TOKEN": "github.com"}
NO_INJECTION = "this egress proxy cannot add a credential"
NO_AGENT = "this egress proxy holds no ssh-agent"
KEPT_INSIDE = 'the manifest says "inject": false'


@dataclass(frozen=True)
class Custody:
    """Where one of the agent's secrets is: held by the sidecar for a host, left
    out (a placeholder stands in), or inside the bottle. Only what may be secret
    is listed: a literal the manifest shows as such is not."""

    name: str  # a variable's name, or "ssh key ~/.ssh/id_x"
    host: str | None  # held by the sidecar for this host; None: not held
    why: str = ""
    left_out: bool = False

    def text(self) -> str:
        if self.host is not None:
            return f"held by the sidecar for {self.host}"
        if self.left_out:
            return f"not passed in ({self.why})"
        return "inside the bottle" + (f" ({self.why})" if self.why else "")

    def to_json(self) -> dict[str, object]:
        where = "sidecar" if self.host is not None else "left out" if self.left_out else "bottle"
        return {"name": self.name, "where": where, "host": self.host, "why": self.why}


@dataclass(frozen=True)
class Credentials:
    injections: tuple[Injection, ...]
    custody: tuple[Custody, ...]
    # Variables the agent holds a placeholder for (the held ones), and those it
    # is not given at all (model credentials Claude Code would not use: with
    # two, it warns that sign-in may not work).
    placeholders: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    # The ssh keys the sidecar's ssh-agent holds: the entries' indexes.
    held_keys: tuple[int, ...] = ()

    def injected(self, name: str) -> Injection | None:
        return next((i for i in self.injections if i.variable == name), None)

    @property
    def model(self) -> Injection | None:
        return next((i for i in self.injections if i.variable in MODEL_VARIABLES), None)


def _endpoint(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path) of a model endpoint URL, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    return (
        parts.scheme,
        parts.hostname.lower(),
        port or (443 if parts.scheme == "https" else 80),
        (parts.path.rstrip("/")),
    )


def _model(
    env: Sequence[EnvVar], sign_in: SignIn, allowed: tuple[str, ...], proxy_injects: bool
) -> tuple[Injection | None, str]:
    """The model credential's injection, or None and why it stays inside."""
    if sign_in.method in ("bedrock", "vertex", "none"):
        return None, ""
    by_name = {b.name: b for b in env}
    credential = next((by_name[n] for n in MODEL_VARIABLES if n in by_name), None)
    if credential is None:
        return None, ""
    if not proxy_injects:
        return None, NO_INJECTION
    if credential.keep_inside:
        return None, KEPT_INSIDE
    base = by_name.get("ANTHROPIC_BASE_URL")
    if base is not None and base.literal is None:
        return None, "the model endpoint comes from the host's environment"
    scheme, host, port, path = ("https", API_HOST, 443, "")
    if base is not None:
        assert base.literal is not None
        endpoint = _endpoint(base.literal)
        if endpoint is None:
            return None, "ANTHROPIC_BASE_URL is not a plain http(s) URL"
        scheme, host, port, path = endpoint
    if not any_host_matches(host, allowed):
        return None, f"{host} is not allowed"
    style = MODEL_VARIABLES[credential.name]
    return Injection(FIRST_PORT, host, style, credential.name, scheme, port, path), ""  # type: ignore[arg-type]


def decide_credentials(
    env: Sequence[EnvVar],
    sign_in: SignIn,
    allowed: tuple[str, ...],
    proxy_injects: bool,
    ssh: Sequence[SshEntry] = (),
) -> Credentials:
    model, why = _model(env, sign_in, allowed, proxy_injects)
    injections = [model] if model else []
    custody: list[Custody] = []
    placeholders: list[str] = []
    left_out: list[str] = []
    for binding in env:
        if model is not None and binding.name == model.variable:
            custody.append(Custody(binding.name, model.host))
            placeholders.append(binding.name)
        elif model is not None and binding.name in MODEL_VARIABLES:
            custody.append(Custody(binding.name, None, f"Claude Code signs in with {model.variable}", True))
            left_out.append(binding.name)
        elif binding.name in MODEL_VARIABLES:
            custody.append(Custody(binding.name, None, why))
        elif (held := _git_token(binding, allowed, proxy_injects, injections, custody)) is not None:
            injections.append(held)
            custody.append(Custody(binding.name, held.host))
            placeholders.append(binding.name)
    held_keys, key_custody = _ssh_keys(ssh, proxy_injects)
    return Credentials(
        tuple(injections), tuple(custody + key_custody), tuple(placeholders), tuple(left_out), held_keys
    )


def _git_token(
    binding: EnvVar,
    allowed: tuple[str, ...],
    proxy_injects: bool,
    injections: list[Injection],
    custody: list[Custody],
) -> Injection | None:
    """A variable held for a git host's HTTPS, or None (its custody then added)."""
    host = binding.inject or (GIT_TOKEN_DEFAULTS.get(binding.name) if not binding.keep_inside else None)
    if host is not None and not binding.inject and not any_host_matches(host, allowed):
        host = None  # a default for a host the bottle does not reach: nothing to add it for
    reason = ""
    if binding.keep_inside:
        reason = KEPT_INSIDE
    elif host is not None and not proxy_injects:
        reason = NO_INJECTION
    elif host is not None and any(i.host == host for i in injections):
        reason = f"another variable is held for {host}"
    elif host is not None and len(injections) >= MAX_INJECTIONS:
        reason = f"the sidecar holds at most {MAX_INJECTIONS} credentials"
    if host is None or reason:
        if binding.literal is None or reason:
            custody.append(Custody(binding.name, None, reason))
        return None
    port = FIRST_PORT + len(injections) + (0 if any(i.port == FIRST_PORT for i in injections) else 1)
    return Injection(port, host, "git-basic", binding.name)


def _ssh_keys(ssh: Sequence[SshEntry], proxy_injects: bool) -> tuple[tuple[int, ...], list[Custody]]:
    held: list[int] = []
    custody: list[Custody] = []
    for index, entry in enumerate(ssh):
        if entry.identity_file is None:
            continue
        name = f"ssh key {entry.identity_file}"
        if entry.key_inside or not proxy_injects:
            custody.append(Custody(name, None, KEPT_INSIDE if entry.key_inside else NO_AGENT))
            continue
        held.append(index)
        custody.append(Custody(name, f"ssh to {entry.target}, in its ssh-agent"))
    return tuple(held), custody


def agent_custody(manifest: Manifest, agent: Agent) -> dict[str, str]:
    """Where each of `agent`'s secrets would be, by name (for `trust`)."""
    bottle = manifest.bottles[agent.bottle]
    hosts = bottle.egress.all_hosts
    sign_in = decide_sign_in(agent.env, hosts, bottle.name)
    injects = backend_for(bottle.egress.proxy).injects
    credentials = decide_credentials(agent.env, sign_in, hosts, injects, agent.ssh)
    return {c.name: c.text() for c in credentials.custody}
