#!/usr/bin/env bash
# The fast loop: lint, format, types and unit tests. No root, no engine, no
# network (the unit tests build the wheel offline); about a minute.
#   python3 -m pip install -e '.[test]'   # once
#   bash scripts/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check src tests scripts
ruff format --check src tests scripts
mypy  # strict, over src and tests (pyproject)
python3 -m pytest tests/unit -q "$@"
