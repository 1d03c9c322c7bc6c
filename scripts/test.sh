#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install, lint, type-check, test.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/unit -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# The Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler,
# kwok, Helm) builds in the background, niced, while everything else installs and
# runs; its tests run last and wait for it (tests/support/kube_cluster.py).
CACHE="${NSIGHT_LAB_CACHE:-$HOME/.cache/nsight-lab}"
mkdir -p "$CACHE"
setsid nice -n 10 bash scripts/install-kube.sh > "$CACHE/install-kube.log" 2>&1 &
kube_build=$!  # its own process group: an early failure here stops the whole build
trap 'kill -- -"$kube_build" 2>/dev/null || true' EXIT
bash scripts/bootstrap.sh --dev
echo "== ruff"
"$PY" -m ruff check .
"$PY" -m ruff format --check nsight_lab services operator tests benchmarks recipes
echo "== CRDs match their models"
"$PY" -m nsight_operator.crds --check
echo "== mypy"
"$PY" -m mypy
echo "== jest (lab extension logic)"
(cd extension && npx --no-install jest --ci)
echo "== node --test (widget drawing logic)"
node --test tests/unit/jupyter/widgets/js/
echo "== pytest"
"$PY" -m pytest -p no:cacheprovider "$@"
wait "$kube_build" || { echo "scripts/install-kube.sh failed: see $CACHE/install-kube.log" >&2; exit 1; }
