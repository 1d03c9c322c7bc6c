#!/usr/bin/env bash
# Install the OpenID Connect provider the auth tests run (oidc-provider, from the npm
# registry, pinned by tests/support/oidc/package-lock.json) into that folder's
# node_modules (git-ignored). Reruns with the lockfile unchanged are instant; npm's own
# cache (~/.npm) makes a fresh clone's install quick too.
set -euo pipefail
cd "$(dirname "$0")/../tests/support/oidc"
if ! command -v node >/dev/null 2>&1; then
  echo "install-oidc-provider.sh: Node.js (>= 20.19) is needed to run the test OIDC provider" >&2
  exit 1
fi
stamp=node_modules/.package-lock.json
if [[ -f "$stamp" && "$stamp" -nt package-lock.json && -f node_modules/oidc-provider/package.json ]]; then
  exit 0
fi
echo "== installing the test OIDC provider (npm ci in tests/support/oidc)"
npm ci --no-audit --no-fund --loglevel=error
