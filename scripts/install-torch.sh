#!/usr/bin/env bash
# Host environments the torch and cupti collectors are tested in: real PyTorch (CPU
# here, no GPU) and real cupti-python, each in its own virtual environment under
# ~/.cache/nsight-lab, the way a user's training environment sits apart from
# nsight-lab (the agent is injected into them; they never install nsight-lab).
#
#   bash scripts/install-torch.sh          # both environments; quick when present
#   NSIGHT_LAB_TORCH_VENV=DIR ...          # elsewhere
#
# PyPI's Linux torch wheel is a CUDA build: `import torch` loads libtorch_cuda.so,
# which links cuBLAS, cuDNN, cuFFT, cuSPARSE(Lt), NCCL, NVSHMEM, cuFile, NVRTC and the
# CUDA runtime. So the cheapest working install is the torch wheel without its
# resolver (--no-deps), exactly the NVIDIA wheels those libraries come from, and the
# pure-Python dependencies; triton (torch.compile) and cuSOLVER (loaded lazily for
# CUDA linear algebra) are left out. Measured cost: docs/PERFORMANCE.md.
set -euo pipefail
PY=${PYTHON:-python3}
CACHE=${NSIGHT_LAB_CACHE:-$HOME/.cache/nsight-lab}
TORCH_VERSION=2.15.0
TORCH_VENV=${NSIGHT_LAB_TORCH_VENV:-$CACHE/torch-$TORCH_VERSION-cpu}
CUPTI_VERSION=13.4.0
CUPTI_VENV=${NSIGHT_LAB_CUPTI_VENV:-$CACHE/cupti-python-$CUPTI_VERSION}
PIP=(-m pip install --quiet --disable-pip-version-check --no-cache-dir --no-compile)

# The libraries torch 2.15.0 links, pinned to the versions its metadata asks for.
TORCH_LIBS=(
  "torch==$TORCH_VERSION"
  nvidia-cuda-runtime==13.2.86 nvidia-cuda-cupti==13.2.86 nvidia-cuda-nvrtc==13.2.86
  nvidia-cublas==13.4.1.3 nvidia-cudnn-cu13==9.26.0.51 nvidia-cufft==12.2.0.57
  nvidia-cufile==1.17.1.22 nvidia-cusparse==12.7.10.12 nvidia-cusparselt-cu13==0.8.1
  nvidia-nccl-cu13==2.30.7 nvidia-nvjitlink==13.5.37 nvidia-nvshmem-cu13==3.7.2
)
TORCH_PURE=(typing_extensions filelock "sympy>=1.13.3" networkx jinja2 fsspec "setuptools>=77" numpy)

ready() { "$1/bin/python" -c "$2" >/dev/null 2>&1; }

make_venv() {  # make_venv DEST CHECK ARGS... : build in DEST.partial, then move into place
  local dest=$1 check=$2
  shift 2
  if ready "$dest" "$check"; then
    echo "== $(basename "$dest") ready in $dest"
    return
  fi
  local started=$SECONDS
  rm -rf "$dest.partial" "$dest"
  mkdir -p "$(dirname "$dest")"
  "$PY" -m venv "$dest.partial"
  "$@"
  mv "$dest.partial" "$dest"
  # A venv's scripts name its own path; rebuilt in place they would point at .partial.
  grep -rl "$dest.partial" "$dest/bin" | xargs -r sed -i "s#$dest.partial#$dest#g"
  ready "$dest" "$check" || { echo "$dest: '$check' fails after install" >&2; exit 1; }
  echo "== $(basename "$dest") installed in $((SECONDS - started)) s ($(du -sh "$dest" | cut -f1))"
}

torch_install() {
  # --no-deps on purpose (see the top); pip's warning about the left-out wheels is noise.
  "$TORCH_VENV.partial/bin/python" "${PIP[@]}" --no-deps "${TORCH_LIBS[@]}" 2>&1 |
    grep -v -e "requires .*, which is not installed" -e "dependency resolver does not" || true
  "$TORCH_VENV.partial/bin/python" "${PIP[@]}" "${TORCH_PURE[@]}"
}

cupti_install() {
  "$CUPTI_VENV.partial/bin/python" "${PIP[@]}" "cupti-python==$CUPTI_VERSION"
}

make_venv "$TORCH_VENV" "import torch, torch.profiler" torch_install
make_venv "$CUPTI_VENV" "import cupti.cupti" cupti_install

# The wheel folder scripts/gpu-check.sh installs cupti-python from on a GPU machine
# without a network (carry it there); the tests install from it too.
WHEELS=${NSIGHT_LAB_CUPTI_WHEELS:-$CACHE/wheels/cupti-python-$CUPTI_VERSION}
if ! ls "$WHEELS"/cupti_python-"$CUPTI_VERSION"-*.whl >/dev/null 2>&1; then
  rm -rf "$WHEELS.partial"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-cache-dir \
    --only-binary=:all: -d "$WHEELS.partial" "cupti-python==$CUPTI_VERSION"
  rm -rf "$WHEELS" && mv "$WHEELS.partial" "$WHEELS"
fi
echo "== cupti-python wheels in $WHEELS ($(du -sh "$WHEELS" | cut -f1))"
