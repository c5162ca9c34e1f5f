"""The pinned Pipelock release the sidecar runs. scripts/setup-engine.sh reads
these constants to build the same tag locally where no registry is reachable."""

from __future__ import annotations

PIPELOCK_MODULE = "github.com/luckyPipewrench/pipelock"
# v2.3.0. Its go.mod has no /v2 suffix, so Go only accepts the release commit
# as a pseudo-version (v1.5.0 is its newest ancestor tag).
PIPELOCK_GO_VERSION = "v1.5.1-0.20260425031621-7a3b7de4a555"
PIPELOCK_REPOSITORY = "ghcr.io/luckypipewrench/pipelock"
PIPELOCK_TAG = "2.3.0"
DEFAULT_SIDECAR_IMAGE = f"{PIPELOCK_REPOSITORY}:{PIPELOCK_TAG}"
