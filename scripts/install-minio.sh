#!/usr/bin/env bash
# Build the MinIO server used by the integration tests and benchmarks.
#
# Builds once into ${NSIGHT_LAB_CACHE:-$HOME/.cache/nsight-lab}/bin and reuses it; nothing
# is written into the repository. Prints the binary's path on stdout, so
#   export NSIGHT_LAB_MINIO="$(scripts/install-minio.sh)"
# points the tests at it (they also look in the cache folder by themselves).
#
# The version is a Go pseudo-version of the February 2026 release: the Go module proxy
# refuses MinIO's RELEASE.* tags as versions, so the commit is pinned instead.
set -euo pipefail

MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE="${NSIGHT_LAB_CACHE:-$HOME/.cache/nsight-lab}"
BIN_DIR="$CACHE/bin"
MINIO="$BIN_DIR/minio"

if [[ -x "$MINIO" ]]; then
  echo "$MINIO"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-minio.sh: the 'go' toolchain is needed to build MinIO (https://go.dev/dl/)" >&2
  exit 1
fi

mkdir -p "$BIN_DIR"
echo "install-minio.sh: building $MINIO_MODULE@$MINIO_VERSION into $BIN_DIR (takes a few minutes)" >&2
GOBIN="$BIN_DIR" CGO_ENABLED=0 go install "$MINIO_MODULE@$MINIO_VERSION" >&2
if [[ ! -x "$MINIO" ]]; then
  echo "install-minio.sh: go install finished but $MINIO is missing" >&2
  exit 1
fi
echo "$MINIO"
