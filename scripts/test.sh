#!/usr/bin/env bash
# Set everything up for testing (skipping what is done) and run the whole test suite.
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/setup.sh --test
echo "== ruff"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
echo "== pytest"
exec "$PY" -m pytest "$@"
