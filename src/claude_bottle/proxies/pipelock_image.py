"""The pinned Pipelock release the optional Pipelock backend runs. It is not
built by claude-bottle: pull it, or load an image under this tag (or name one
with CLAUDE_BOTTLE_SIDECAR_IMAGE)."""

from __future__ import annotations

PIPELOCK_REPOSITORY = "ghcr.io/luckypipewrench/pipelock"
PIPELOCK_TAG = "2.3.0"
DEFAULT_PIPELOCK_IMAGE = f"{PIPELOCK_REPOSITORY}:{PIPELOCK_TAG}"
