"""Credentials added at the sidecar (pure): what an injected host is, the header
the sidecar puts on each request to it, and what the agent holds instead.

The agent speaks plain HTTP on its own internal network to a port of its
sidecar given to one host; the sidecar forwards to that host over TLS
(verifying its certificate) and puts the real credential in the request's
header, replacing whatever the agent sent. The agent holds a placeholder of
the right shape and never the value, so a prompt injection that makes it send
its "credentials" elsewhere sends a placeholder, and the host itself is
reached only through that port: a request to it through the ordinary proxy
port (an attacker's key riding a CONNECT) is refused."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Literal

# The sidecar's ports for injected hosts (3128: the proxy; 3129: ssh tunnels).
FIRST_PORT = 3130
# Where the sidecar offers its ssh-agent (the keys it holds) to the agent.
SSH_AGENT_PORT = 3127
MAX_INJECTIONS = 20

# How a credential is put on a request: the header, and the value around it.
Style = Literal["bearer", "x-api-key", "git-basic"]
HEADERS: dict[Style, str] = {
    "bearer": "Authorization",
    "x-api-key": "X-Api-Key",
    "git-basic": "Authorization",
}
# What the agent sends in their place is dropped on the way through, whichever it is.
REPLACED = ("Authorization", "X-Api-Key", "Proxy-Authorization")
# A value Squid can carry in a quoted header template: no quote, no '%' (its
# format codes), no space or control character.
_VALUE_RE = re.compile(r"[A-Za-z0-9._~+/=:@-]{1,4096}")


@dataclass(frozen=True)
class Injection:
    """A host the sidecar holds a credential for (no value: it arrives at launch).
    `variable` is the agent's env name whose value the sidecar holds."""

    port: int
    host: str
    style: Style
    variable: str
    scheme: Literal["https", "http"] = "https"
    upstream_port: int = 443
    path_prefix: str = ""  # a gateway's base path (https://gw.example/anthropic)

    @property
    def header(self) -> str:
        return HEADERS[self.style]

    def url(self, sidecar_host: str) -> str:
        """What the agent's client is pointed at: plain HTTP to its sidecar."""
        return f"http://{sidecar_host}:{self.port}{self.path_prefix}"


class UnusableCredential(ValueError):
    """A credential the sidecar cannot carry in a header (the plan says which)."""


def header_value(style: Style, secret: str) -> str:
    """The header value the sidecar sends for `secret` (never shown or logged)."""
    if not _VALUE_RE.fullmatch(secret):
        raise UnusableCredential("it holds characters a request header cannot carry")
    if style == "bearer":
        return f"Bearer {secret}"
    if style == "git-basic":
        # Git hosts take a token as the password of any user (GitHub's own name for it).
        return "Basic " + base64.b64encode(f"x-access-token:{secret}".encode()).decode()
    return secret


# What the agent holds: the shape of the real thing, the words of a placeholder.
PLACEHOLDER_BODY = "claude-bottle-held-by-the-sidecar"
PLACEHOLDERS = {
    "CLAUDE_CODE_OAUTH_TOKEN": f"sk-ant-oat01-{PLACEHOLDER_BODY}-0000000000000000",
    "ANTHROPIC_API_KEY": f"sk-ant-api03-{PLACEHOLDER_BODY}-0000000000000000",
}


def placeholder(variable: str) -> str:
    return PLACEHOLDERS.get(variable, PLACEHOLDER_BODY)
