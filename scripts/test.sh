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
python3 -m pytest tests/engine -q -m engine
