#!/usr/bin/env bash
# Installs what nsight-lab needs on a fresh machine. Idempotent: reruns are quick.
#   bash scripts/bootstrap.sh          # the package and its runtime dependencies
#   bash scripts/bootstrap.sh --dev    # + test/lint tools, the MinIO server, a Jupyter kernel
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras="."
[[ "${1:-}" == "--dev" ]] && extras=".[dev]"
echo "== installing nsight-lab ($extras)"
"$PY" -m pip install --quiet --disable-pip-version-check -e "$extras"
# papermill executes recipe notebooks on the "python3" kernel of this interpreter.
if ! "$PY" -m jupyter kernelspec list 2>/dev/null | grep -q '^ *python3 '; then
  "$PY" -m ipykernel install --user --name python3 >/dev/null
fi
if [[ "${1:-}" == "--dev" ]]; then
  bash scripts/install-minio.sh
fi
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
