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
