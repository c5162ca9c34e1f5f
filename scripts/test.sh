#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (as root): installs the
# engine and images it needs, then lint, types, unit tests, engine tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-engine.sh
python3 -m pip install -q --disable-pip-version-check -e '.[test]'

# Hand the host's CA bundle to the image build: where registries are reached
# through a TLS-intercepting proxy, npm inside the build needs its CA.
extra_ca=()
[ -f /etc/ssl/certs/ca-certificates.crt ] && extra_ca=(--extra-ca /etc/ssl/certs/ca-certificates.crt)
claude-bottle build "${extra_ca[@]}"

ruff check src tests
mypy
python3 -m pytest tests/unit -q
# The Pipelock suite needs a Pipelock image. Where none could be built (see
# README: the module proxy here does not serve Pipelock), say so loudly.
sidecar=${CLAUDE_BOTTLE_SIDECAR_IMAGE:-$(python3 -c 'from claude_bottle.sidecar_image import DEFAULT_SIDECAR_IMAGE as i; print(i)')}
if docker image inspect "$sidecar" >/dev/null 2>&1; then
  CLAUDE_BOTTLE_SIDECAR_IMAGE=$sidecar python3 -m pytest tests/sidecar -q -m engine
else
  echo "NOT RUN: tests/sidecar (the Pipelock suite): no image $sidecar in the engine" >&2
fi

python3 -m pytest tests/engine -q -m engine
