#!/usr/bin/env bash
# Installs what nsight-lab needs on a fresh machine. Idempotent: reruns are quick.
#   bash scripts/bootstrap.sh          # the package and its runtime dependencies
#   bash scripts/bootstrap.sh --dev    # + test/lint tools, JupyterLab, Dask, the MinIO server, a Jupyter
#                                      # kernel, Chromium, and the lab extension built and linked
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras="."
[[ "${1:-}" == "--dev" ]] && extras=".[dev,lab,dask]"
echo "== installing nsight-lab ($extras)"
"$PY" -m pip install --quiet --disable-pip-version-check -e "$extras"
# papermill executes recipe notebooks on the "python3" kernel of this interpreter.
if ! "$PY" -m jupyter kernelspec list 2>/dev/null | grep -q '^ *python3 '; then
  "$PY" -m ipykernel install --user --name python3 >/dev/null
fi
if [[ "${1:-}" == "--dev" ]]; then
  bash scripts/install-minio.sh
  # Browser tests drive Debian's Chromium (no browser downloads are possible here).
  command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }
  PYTHON="$PY" bash scripts/build-labextension.sh --no-test --link
fi
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
