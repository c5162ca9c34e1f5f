"""How Claude Code in the bottle will sign in, decided from the plan's env bindings
(pure; names and origins only, never a value).

The order is Claude Code's own: a cloud provider switch, then
ANTHROPIC_AUTH_TOKEN, ANTHROPIC_API_KEY, and last CLAUDE_CODE_OAUTH_TOKEN (what
`claude setup-token` makes; claude-bottle forwards $CLAUDE_BOTTLE_OAUTH_TOKEN
under that name). With none, Claude Code opens at its login screen, and a login
made there is lost when the bottle is removed: the plan warns before launch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from claude_bottle.hostnames import any_host_matches, host_of_url
from claude_bottle.manifest.model import EnvVar

API_HOST = "api.anthropic.com"
PROVIDERS = (
    ("CLAUDE_CODE_USE_BEDROCK", "bedrock", "Amazon Bedrock"),
    ("CLAUDE_CODE_USE_VERTEX", "vertex", "Google Vertex AI"),
)
CREDENTIALS = ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
NO_SIGN_IN = (
    "no sign-in for Claude Code: the session opens at its login screen, and a login made there "
    "is lost when the bottle is removed. Run 'claude setup-token' on this machine and export "
    "CLAUDE_BOTTLE_OAUTH_TOKEN, or give the agent ANTHROPIC_API_KEY in its env "
    "(README: Quick start)"
)


@dataclass(frozen=True)
class SignIn:
    method: str  # "gateway", "auth_token", "api_key", "oauth_token", "bedrock", "vertex" or "none"
    description: str
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "description": self.description, "warnings": list(self.warnings)}


def _origin(binding: EnvVar) -> str:
    if binding.literal is not None:
        return "the manifest"
    return f"${binding.host_var}"


def _credential_text(binding: EnvVar) -> str:
    if binding.name == "CLAUDE_CODE_OAUTH_TOKEN":
        return f"Claude subscription token (claude setup-token) from {_origin(binding)}"
    return f"{binding.name} from {_origin(binding)}"


def _safe_url(url: str) -> str:
    """The URL without any user:password part (a gateway URL may carry one)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    netloc = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=netloc, query="", fragment="").geturl()


def _not_allowed(host: str, bottle: str) -> str:
    return (
        f"{host} is not allowed by bottle '{bottle}', so Claude Code cannot reach its model "
        f"(add it to bottles.{bottle}.egress.allow, or egress.internal for a private address)"
    )


def decide_sign_in(env: Sequence[EnvVar], allowed_hosts: Sequence[str], bottle: str) -> SignIn:
    by_name = {b.name: b for b in env}
    for var, method, text in PROVIDERS:
        if var in by_name:
            return SignIn(method, f"{text} ({var} in the agent's env)")
    present = [by_name[n] for n in CREDENTIALS if n in by_name]
    unused = [f"{b.name} is set too and not used" for b in present[1:]]
    gateway = by_name.get("ANTHROPIC_BASE_URL")
    if gateway is not None:
        credential = _credential_text(present[0]) if present else "no credential"
        if gateway.literal is None:
            return SignIn(
                "gateway", f"model gateway (ANTHROPIC_BASE_URL from ${gateway.host_var}) with {credential}",
                tuple(unused),
            )  # fmt: skip
        host = host_of_url(gateway.literal)
        warnings = list(unused)
        if host is None:
            warnings.insert(0, "ANTHROPIC_BASE_URL is not a URL with a host")
        elif not any_host_matches(host, tuple(allowed_hosts)):
            warnings.insert(0, _not_allowed(host, bottle))
        return SignIn(
            "gateway", f"model gateway {_safe_url(gateway.literal)} with {credential}", tuple(warnings)
        )
    if not present:
        return SignIn("none", "none", (NO_SIGN_IN,))
    first = present[0]
    method = {"ANTHROPIC_AUTH_TOKEN": "auth_token", "ANTHROPIC_API_KEY": "api_key"}.get(
        first.name, "oauth_token"
    )
    warnings = list(unused)
    if not any_host_matches(API_HOST, tuple(allowed_hosts)):
        warnings.insert(0, _not_allowed(API_HOST, bottle))
    return SignIn(method, _credential_text(first), tuple(warnings))
