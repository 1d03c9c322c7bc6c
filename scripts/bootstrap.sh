#!/usr/bin/env bash
# Installs what nsight-lab needs on a fresh machine. Idempotent: reruns are quick.
#   bash scripts/bootstrap.sh          # the package and its runtime dependencies
#   bash scripts/bootstrap.sh --dev    # + test/lint tools, JupyterLab, Dask, Envoy, the MinIO server, a Jupyter
#                                      # kernel, Chromium, and the lab extension built and linked
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras="."
[[ "${1:-}" == "--dev" ]] && extras=".[dev,lab,dask,gateway,cluster]"
echo "== installing nsight-lab ($extras)"
"$PY" -m pip install --quiet --disable-pip-version-check -e "$extras"
# papermill executes recipe notebooks on the "python3" kernel of this interpreter.
if ! "$PY" -m jupyter kernelspec list 2>/dev/null | grep -q '^ *python3 '; then
  "$PY" -m ipykernel install --user --name python3 >/dev/null
fi
if [[ "${1:-}" == "--dev" ]]; then
  # Real PyTorch (CPU) and cupti-python host environments for the collector tests:
  # ~2.9 GB of downloads and unpacking, so they proceed while MinIO builds.
  torch_log=$(mktemp "${TMPDIR:-/tmp}/nsight-lab-install-torch.XXXXXX")
  PYTHON="$PY" bash scripts/install-torch.sh >"$torch_log" 2>&1 &
  torch_pid=$!
  bash scripts/install-minio.sh
  # The OpenID Connect provider the auth tests run (npm ci from its lockfile).
  bash scripts/install-oidc-provider.sh
  # Browser tests drive Debian's Chromium (no browser downloads are possible here).
  # (The lock timeout: scripts/install-kube.sh may be installing etcd in the background.)
  command -v chromium >/dev/null || {
    apt-get -o DPkg::Lock::Timeout=900 update &&
      apt-get -o DPkg::Lock::Timeout=900 install -y chromium
  }
  PYTHON="$PY" bash scripts/build-labextension.sh --no-test --link
  if ! wait "$torch_pid"; then
    cat "$torch_log" >&2
    echo "bootstrap: scripts/install-torch.sh failed" >&2
    exit 1
  fi
  grep '^==' "$torch_log" || true
  rm -f "$torch_log"
fi
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
