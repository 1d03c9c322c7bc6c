#!/usr/bin/env bash
# Build the real Kubernetes control plane the cluster tests run against, into a cache
# folder outside the repository, keyed by version and reused when present:
#   ${NSIGHT_LAB_CACHE:-$HOME/.cache/nsight-lab}/
#     kube-v1.37.2/bin/{kube-apiserver,kube-controller-manager,kube-scheduler}
#     kwok-v0.8.0/bin/kwok   kwok-v0.8.0/stages/*.yaml
#     helm-v3.22.0/bin/helm
#     kube.env                 (the paths above, as shell assignments; written last)
# etcd comes from Debian (etcd-server), installed here when `etcd` is missing.
#
# Nothing is downloaded but Go modules and the Debian package. The apiserver is the long
# part (about 15 minutes of one core cold); everything builds with `go build -p 2`.
# Prints the path of kube.env on stdout, so `source "$(scripts/install-kube.sh)"` works.
#
# The test suite starts this in the background (scripts/test.sh) and the Kubernetes
# tests wait for kube.env (tests/kube/conftest.py), so the build overlaps the rest.
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
log() { echo "install-kube.sh: $*" >&2; }

k8s_minor="${KUBE_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"

if ! command -v go >/dev/null 2>&1; then
  log "the 'go' toolchain is needed (https://go.dev/dl/)"; exit 1
fi
mkdir -p "$CACHE"
rm -f "$ENV_FILE.failed"
trap 'rc=$?; [[ $rc -ne 0 ]] && echo "exit $rc" > "$ENV_FILE.failed"' EXIT

# --- etcd (Debian) ---------------------------------------------------------------
ETCD="$(command -v etcd || true)"
if [[ -z "$ETCD" ]]; then
  log "installing etcd-server from Debian"
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq etcd-server >&2
  ETCD="$(command -v etcd)"
fi

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
    CGO_ENABLED=0 go build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$KUBE_BIN.tmp/" \
      $(printf 'k8s.io/kubernetes/cmd/%s ' "${want[@]}") >&2
  )
  rm -rf "$work" "$KUBE_BIN"
  mv "$KUBE_BIN.tmp" "$KUBE_BIN"
fi

# --- kwok (fake nodes) and its stage configs ---------------------------------------
if [[ ! -x "$KWOK_DIR/bin/kwok" || ! -d "$KWOK_DIR/stages" ]]; then
  log "building kwok $KWOK_VERSION into $KWOK_DIR"
  mkdir -p "$KWOK_DIR/bin"
  GOBIN="$KWOK_DIR/bin" CGO_ENABLED=0 go install -p "$JOBS" -trimpath -ldflags "-s -w" \
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
  GOBIN="$HELM_BIN" CGO_ENABLED=0 go install -p "$JOBS" -trimpath -ldflags "-s -w \
    -X $h/internal/version.version=$HELM_VERSION -X $h/internal/version.gitTreeState=clean \
    -X $h/pkg/lint/rules.k8sVersionMajor=1 -X $h/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
    -X $h/pkg/chartutil.k8sVersionMajor=1 -X $h/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
    "$h/cmd/helm@$HELM_VERSION" >&2
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
echo "$ENV_FILE"
