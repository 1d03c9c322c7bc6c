#!/usr/bin/env bash
# Builds the JupyterLab extension (extension/) into nsight_lab/jupyter/labextension/,
# the folder the wheel ships and an editable install links. Needs Node.js >= 18 and
# the npm registry; users installing the wheel need neither.
#   bash scripts/build-labextension.sh                 # npm ci, compile, bundle, jest
#   bash scripts/build-labextension.sh --no-test --link
# --link (for an editable checkout) points $PY's share/jupyter/labextensions/nsight-lab
# at the build folder and enables the server extension there, so JupyterLab started
# from that interpreter loads this checkout's build; a rebuild needs no reinstall.
set -euo pipefail
PY=${PYTHON:-python3}
run_tests=1 link=0
for arg in "$@"; do
  case "$arg" in
    --no-test) run_tests=0 ;;
    --link) link=1 ;;
    *) echo "build-labextension: unknown option $arg" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/../extension"
command -v npm >/dev/null || { echo "build-labextension: npm not found; install Node.js >= 18" >&2; exit 1; }
echo "== npm ci (extension/)"
npm ci --no-audit --no-fund --loglevel=error
echo "== tsc + @jupyter/builder -> nsight_lab/jupyter/labextension"
rm -rf ../nsight_lab/jupyter/labextension lib tsconfig.tsbuildinfo
npm run --silent build:lib
npm run --silent build:labextension
if (( run_tests )); then
  echo "== jest"
  npx jest --ci
fi
if (( link )); then
  prefix=$("$PY" -c 'import sys; print(sys.prefix)')
  target="$prefix/share/jupyter/labextensions/nsight-lab"
  echo "== linking $target -> nsight_lab/jupyter/labextension"
  mkdir -p "$(dirname "$target")" "$prefix/etc/jupyter/jupyter_server_config.d"
  rm -rf "$target"
  ln -s "$(cd .. && pwd)/nsight_lab/jupyter/labextension" "$target"
  cp ../jupyter-config/jupyter_server_config.d/nsight_lab.json "$prefix/etc/jupyter/jupyter_server_config.d/"
fi
