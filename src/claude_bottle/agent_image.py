"""Facts of the agent image (data/Dockerfile) that the code relies on, in one
place: its tag, its unprivileged user, that user's home and workspace, and the
Claude Code version it installs. tests/unit/test_settings.py reads the
Dockerfile back against them."""

from __future__ import annotations

TAG = "claude-bottle:latest"
USER = "node"  # `useradd ... node` in the Dockerfile
UID = 1000  # ARG NODE_UID
GID = 1000
HOME = "/home/node"  # the default; CLAUDE_BOTTLE_CONTAINER_HOME names another
WORKSPACE = f"{HOME}/workspace"  # the Dockerfile's WORKDIR
CLAUDE_CODE_VERSION = "2.1.332"  # the build argument the image is built with

# Set in every agent container unless the manifest names the variable itself.
# At start-up Claude Code installs Anthropic's official plugin marketplace from
# downloads.claude.ai. A plugin runs code (hooks, MCP servers) and would come
# from outside what the manifest shows; in a bottle the fetch is refused by the
# wall anyway, and only put a refused host in every interactive summary, where
# it hid what the agent itself tried to reach.
DEFAULT_ENV = {"CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1"}
