#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install, lint, type-check, test.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/unit -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/bootstrap.sh --dev
echo "== ruff"
"$PY" -m ruff check .
"$PY" -m ruff format --check nsight_lab services tests benchmarks recipes
echo "== mypy"
"$PY" -m mypy
echo "== jest (lab extension logic)"
(cd extension && npx --no-install jest --ci)
echo "== node --test (widget drawing logic)"
node --test tests/unit/jupyter/widgets/js/
echo "== pytest"
"$PY" -m pytest -p no:cacheprovider "$@"
