#!/usr/bin/env bash
# Build the real Kubernetes control plane the cluster tests run against, into a cache
# folder outside the repository, keyed by version and reused when present:
#   ${NSIGHT_LAB_CACHE:-$HOME/.cache/nsight-lab}/
#     kube-v1.37.2/bin/{kube-apiserver,kube-controller-manager,kube-scheduler}
#     kwok-v0.8.0/bin/kwok   kwok-v0.8.0/stages/*.yaml
#     helm-v3.22.0/bin/helm
#     kube.env                 (the paths above, as shell assignments; written last)
# etcd comes from Debian (etcd-server), installed here (last) when `etcd` is missing.
#
# Nothing is downloaded but Go modules (1.2 GB) and the Debian package. Cold it costs
# about 20 minutes of CPU (the apiserver most of it), 2.7 GB peak memory (its link) and
# a 5 GB build cache, removed at the end; everything builds with `go build -p 2`.
# Measured 2026-12-01, empty cache and empty module cache, nice -n 10 on 2 cores shared
# with other test suites: 24:44 wall, 998 s user + 202 s system. Warm: under a second.
# Prints the path of kube.env on stdout, so `source "$(scripts/install-kube.sh)"` works.
#
# The test suite starts this in the background (scripts/test.sh) and the Kubernetes
# tests wait for kube.env (tests/support/kube_cluster.py), so the build overlaps the rest.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"      # k8s.io/kubernetes
STAGING_VERSION="v0${KUBE_VERSION#v1}"       # its staging modules: v0.37.2
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${NSIGHT_LAB_CACHE:-$HOME/.cache/nsight-lab}"
KUBE_BIN="$CACHE/kube-$KUBE_VERSION/bin"
KWOK_DIR="$CACHE/kwok-$KWOK_VERSION"
HELM_BIN="$CACHE/helm-$HELM_VERSION/bin"
ENV_FILE="$CACHE/kube.env"
JOBS="${NSIGHT_LAB_BUILD_JOBS:-2}"
# The build cache of these builds is ~5 GB and useless once the binaries exist: keep it
# apart from the user's and remove it after a successful build.
BUILD_CACHE="$CACHE/go-build-kube"
log() { echo "install-kube.sh: $*" >&2; }

k8s_minor="${KUBE_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"

if ! command -v go >/dev/null 2>&1; then
  log "the 'go' toolchain is needed (https://go.dev/dl/)"; exit 1
fi
mkdir -p "$CACHE"
rm -f "$ENV_FILE.failed"
# While this runs, tests that need the control plane wait for it (tests/support/kube_cluster.py).
echo $$ > "$ENV_FILE.building"
trap 'rc=$?; rm -f "$ENV_FILE.building"; [[ $rc -ne 0 ]] && echo "exit $rc" > "$ENV_FILE.failed"; exit $rc' EXIT

# --- kube-apiserver, kube-controller-manager, kube-scheduler ----------------------
want=(kube-apiserver kube-controller-manager kube-scheduler)
missing=0
for b in "${want[@]}"; do [[ -x "$KUBE_BIN/$b" ]] || missing=1; done
if [[ $missing -eq 1 ]]; then
  log "building ${want[*]} $KUBE_VERSION into $KUBE_BIN (cold: ~20 min on 2 cores)"
  work="$(mktemp -d)"
  # The module's own go.mod replaces every k8s.io/* staging module with ./staging/...,
  # which a consumer cannot see; point each at its published release instead.
  (
    cd "$work"
    go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" > dl.json
    gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' dl.json)"
    {
      echo "module nsightlab.local/kubebuild"
      echo
      grep '^go ' "$gomod"
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      echo "replace ("
      sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\t\1 => \1 '"$STAGING_VERSION"'#p' "$gomod"
      echo ")"
    } > go.mod
    for b in "${want[@]}"; do go get "k8s.io/kubernetes/cmd/$b@$KUBE_VERSION" >&2; done
    ldflags="-s -w"
    for v in "gitVersion=$KUBE_VERSION" "gitMajor=1" "gitMinor=$k8s_minor" \
             "gitTreeState=clean" "buildDate=1970-01-01T00:00:00Z"; do
      ldflags+=" -X k8s.io/component-base/version.$v -X k8s.io/client-go/pkg/version.$v"
    done
    mkdir -p "$KUBE_BIN.tmp"
    GOCACHE="$BUILD_CACHE" CGO_ENABLED=0 go build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$KUBE_BIN.tmp/" \
      $(printf 'k8s.io/kubernetes/cmd/%s ' "${want[@]}") >&2
  )
  rm -rf "$work" "$KUBE_BIN"
  mv "$KUBE_BIN.tmp" "$KUBE_BIN"
fi

# --- kwok (fake nodes) and its stage configs ---------------------------------------
if [[ ! -x "$KWOK_DIR/bin/kwok" || ! -d "$KWOK_DIR/stages" ]]; then
  log "building kwok $KWOK_VERSION into $KWOK_DIR"
  mkdir -p "$KWOK_DIR/bin"
  GOBIN="$KWOK_DIR/bin" GOCACHE="$BUILD_CACHE" CGO_ENABLED=0 go install -p "$JOBS" -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
  src="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  rm -rf "$KWOK_DIR/stages.tmp"; mkdir -p "$KWOK_DIR/stages.tmp"
  # node-initialize, node-heartbeat; pod-ready, pod-complete, pod-delete (the fast set).
  for d in node/fast node/heartbeat pod/fast; do
    find "$src/kustomize/stage/$d" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml \
      -exec cp {} "$KWOK_DIR/stages.tmp/" \;
  done
  chmod u+w "$KWOK_DIR"/stages.tmp/*
  rm -rf "$KWOK_DIR/stages"; mv "$KWOK_DIR/stages.tmp" "$KWOK_DIR/stages"
fi

# --- Helm ------------------------------------------------------------------------
if [[ ! -x "$HELM_BIN/helm" ]]; then
  log "building helm $HELM_VERSION into $HELM_BIN"
  mkdir -p "$HELM_BIN"
  h="helm.sh/helm/v3"
  GOBIN="$HELM_BIN" GOCACHE="$BUILD_CACHE" CGO_ENABLED=0 go install -p "$JOBS" -trimpath -ldflags "-s -w \
    -X $h/internal/version.version=$HELM_VERSION -X $h/internal/version.gitTreeState=clean \
    -X $h/pkg/lint/rules.k8sVersionMajor=1 -X $h/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
    -X $h/pkg/chartutil.k8sVersionMajor=1 -X $h/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
    "$h/cmd/helm@$HELM_VERSION" >&2
fi

# --- etcd (Debian) ---------------------------------------------------------------
ETCD="$(command -v etcd || true)"
if [[ -z "$ETCD" ]]; then
  log "installing etcd-server from Debian"
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  # Last, and waiting for the dpkg lock: scripts/bootstrap.sh may be installing Chromium.
  $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq etcd-server >&2
  ETCD="$(command -v etcd)"
fi

cat > "$ENV_FILE.tmp" <<EOF
NSIGHT_LAB_ETCD=$ETCD
NSIGHT_LAB_KUBE_APISERVER=$KUBE_BIN/kube-apiserver
NSIGHT_LAB_KUBE_CONTROLLER_MANAGER=$KUBE_BIN/kube-controller-manager
NSIGHT_LAB_KUBE_SCHEDULER=$KUBE_BIN/kube-scheduler
NSIGHT_LAB_KWOK=$KWOK_DIR/bin/kwok
NSIGHT_LAB_KWOK_STAGES=$KWOK_DIR/stages
NSIGHT_LAB_HELM=$HELM_BIN/helm
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"
rm -rf "$BUILD_CACHE"
echo "$ENV_FILE"
