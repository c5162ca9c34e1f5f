"""Built-in manifests: the fallback when no file is found, and the `init` starter."""

from __future__ import annotations

from typing import Any

# What Claude Code itself needs to work: its API, and the hosts of its login flow.
CLAUDE_CODE_HOSTS = (
    "api.anthropic.com",
    "console.anthropic.com",
    "claude.ai",
    "platform.claude.com",
)

DEFAULT_MANIFEST: dict[str, Any] = {
    "bottles": {"default": {"egress": {"allow": list(CLAUDE_CODE_HOSTS)}}},
    "agents": {"claude": {"bottle": "default"}},
}

STARTER_MANIFEST: dict[str, Any] = {
    "bottles": {
        "dev": {
            "runtime": "runc",
            "egress": {"allow": [*CLAUDE_CODE_HOSTS, "github.com", "*.github.com"]},
        }
    },
    "agents": {
        "claude": {
            "bottle": "dev",
            "prompt": "You are working in a sandbox. Commit your work with git as you go.",
            # An API key in your environment signs the agent in; without one, export
            # CLAUDE_BOTTLE_OAUTH_TOKEN (from `claude setup-token`) instead.
            "env": {
                "ANTHROPIC_API_KEY": {"from_env": "ANTHROPIC_API_KEY", "optional": True},
                "GITHUB_TOKEN": {"from_env": "GH_TOKEN", "optional": True},
            },
        }
    },
}
