#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (as root): installs the
# engine and images it needs, then lint, types, unit tests, engine tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup/engine.sh
# The checkout, for the unit tests (they import the source tree) and the tools.
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# What users install: the wheel, built once from this checkout and installed into
# a fresh virtual environment (with the Kubernetes extra). Every suite that runs
# the CLI runs this entry point, with a fresh HOME (tests/installed.py), and so
# does everything below that calls claude-bottle.
venv=${TMPDIR:-/tmp}/claude-bottle-ci/venv
CLAUDE_BOTTLE_TEST_CLI=$(python3 -m tests.installed --venv "$venv" --extras kubernetes)
export CLAUDE_BOTTLE_TEST_CLI
claude_bottle() { "$CLAUDE_BOTTLE_TEST_CLI" "$@"; }

# The Kubernetes test cluster (issue 14) is compiled from Go modules: about 10
# minutes from nothing on an idle 2-core machine, seconds once built (cached in
# /var/lib/claude-bottle/k8s). It builds and starts in the background while the
# Docker suites run, and its tests wait for it below.
k8s_log=${TMPDIR:-/tmp}/claude-bottle-setup-k8s.log
bash scripts/setup/k8s.sh >"$k8s_log" 2>&1 &
k8s_setup=$!

# Hand the host's CA bundle to the image build: where registries are reached
# through a TLS-intercepting proxy, npm inside the build needs its CA.
extra_ca=()
[ -f /etc/ssl/certs/ca-certificates.crt ] && extra_ca=(--extra-ca /etc/ssl/certs/ca-certificates.crt)
claude_bottle build "${extra_ca[@]}"

# Lint, format, types and the unit tests (the fast loop of CONTRIBUTING.md).
bash scripts/check.sh
# Hand-written mutants of the wall's rules, the argv builders and redaction: each
# must be killed by the unit tests (about 2 minutes; the engine ones: see docs/testing.md).
python3 scripts/mutants.py --fast
# The sidecar suite and the red team, against the default proxy (Squid, built
# above by `claude-bottle build`), under runc and gVisor. Each proxy's run
# writes its results, from which the Security table of docs/security.md is made.
results=${TMPDIR:-/tmp}/claude-bottle-ci/results
rm -rf "$results"
mkdir -p "$results"
python3 -m pytest tests/sidecar -q -m engine --junitxml "$results/sidecar-squid.xml"
# The same suite for the optional Pipelock backend, its image built from the
# Pipelock build beside the checkout (../shared/pipelock; its digest checked).
# Without that folder the script says so in one line, and an image of that name
# already in the engine (one the user loaded) is used if there is one.
pipelock=$(bash scripts/setup/pipelock-image.sh)
if [ -z "$pipelock" ]; then
  image=$(python3 -c 'from claude_bottle.proxies.pipelock_image import DEFAULT_PIPELOCK_IMAGE as i; print(i)')
  if docker image inspect "$image" >/dev/null 2>&1; then pipelock=$image; fi
fi
if [ -n "$pipelock" ]; then
  CLAUDE_BOTTLE_TEST_PROXY=pipelock CLAUDE_BOTTLE_SIDECAR_IMAGE=$pipelock \
    python3 -m pytest tests/sidecar -q -m engine --junitxml "$results/sidecar-pipelock.xml"
fi
# docs/security.md's Security table is the one these runs make (the columns of
# each proxy that ran); `--write docs/security.md` in place of `--check` updates it.
python3 -m tests.security_table --results "$results" --check docs/security.md
# Speed, measured (issues 12 and 25): a short pass of the benchmark (about a
# minute), printed; its timings are never asserted, but it fails the suite if
# any bottle it starts did not run or left an object behind.
python3 scripts/bench/bench.py --quick --json "${TMPDIR:-/tmp}/claude-bottle-bench.json"

# The remote-engine selection (issues 14 and 25) against a second Docker engine whose
# file system is not this host's: dockerd in a container, over TCP, so the CLI path
# (not the Engine API's socket); runc only. The sidecar suite and the red team
# (their lab made in that engine) but their gVisor cases, and the engine tests of
# the remote paths.
remote=$(bash scripts/setup/remote-engine.sh)
env "$remote" python3 -m pytest tests/engine tests/sidecar -q -m "engine and remote_engine"
# Nothing of it stays running: the container and its network go, the volume
# holding the images loaded into it stays as a cache for the next run.
bash scripts/setup/remote-engine.sh --stop

# The Kubernetes engine on the test cluster (images imported by the tests' fixture).
if ! wait "$k8s_setup"; then
  echo "the Kubernetes test cluster did not come up; the end of its log:" >&2
  tail -40 "$k8s_log" >&2
  exit 1
fi
# The cluster's own smoke test first (runc and gVisor pods, policies with a
# positive control for every refusal, exec with stdin), then the engine and CLI.
bash scripts/setup/cluster/smoke.sh
python3 -m pytest tests/k8s -q -m k8s

# Last, so that the run closes on pytest's summary.
python3 -m pytest tests/engine -q -m engine
