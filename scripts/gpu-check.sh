#!/usr/bin/env bash
# Check the torch and cupti collectors against a real GPU; prints one verdict line.
#
#   bash scripts/gpu-check.sh OUT_DIR [WHEELS_DIR]
#
# For a machine with one NVIDIA GPU, PyTorch and CuPy installed, and no network.
# What else the check needs comes from WHEELS_DIR (default: $NSIGHT_LAB_WHEELS):
# cupti-python and its dependencies, plus pyarrow, msgspec and pandas when this Python
# lacks them. Make that folder where there is a network, for the target's Python:
#   pip download --only-binary=:all: --python-version 3.11 -d wheels \
#       cupti-python==13.4.0 pyarrow msgspec pandas
# The agent itself is standard-library only and runs from this checkout.
# Writes traces, cuda_gpu_kern_sum tables, logs and verdict.txt into OUT_DIR.
# Exit status: 0 pass, 1 fail, 2 cannot run here (no GPU, missing pieces).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-}
wheels=${2:-${NSIGHT_LAB_WHEELS:-}}
PY=${PYTHON:-python3}
if [[ -z "$out" ]]; then
  echo "usage: bash scripts/gpu-check.sh OUT_DIR [WHEELS_DIR]" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

need=()
"$PY" -c "import cupti.cupti" 2>/dev/null || need+=(cupti-python)
for module in pyarrow msgspec pandas; do
  "$PY" -c "import $module" 2>/dev/null || need+=("$module")
done
if ((${#need[@]})); then
  if [[ -z "$wheels" || ! -d "$wheels" ]]; then
    echo "GPU CHECK CANNOT RUN: ${need[*]} missing and no wheel folder given (WHEELS_DIR or \$NSIGHT_LAB_WHEELS)"
    exit 2
  fi
  # A virtual environment over the system's packages: PyTorch and CuPy stay visible,
  # what is added stays in OUT_DIR.
  "$PY" -m venv --system-site-packages "$out/venv"
  if ! "$out/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index \
      --find-links "$wheels" "${need[@]}" >"$out/pip.log" 2>&1; then
    echo "GPU CHECK CANNOT RUN: installing ${need[*]} from $wheels failed (see $out/pip.log)"
    exit 2
  fi
  PY="$out/venv/bin/python"
fi
exec "$PY" "$here/gpu_check.py" "$out"
