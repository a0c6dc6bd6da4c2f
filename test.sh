#!/usr/bin/env bash
# Hoop's test command: installs what the tests need when it is missing, then runs every test.
# Safe to run again: each step is skipped when its tool is already there.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)                                # console end-to-end tests
command -v pebble >/dev/null || need_apt+=(pebble)                                    # ACME server
[ -x /usr/lib/postgresql/15/bin/pg_ctl ] || need_apt+=(postgresql-15 postgresql-client-15)  # Postgres proxy tests
command -v curl >/dev/null || need_apt+=(curl)                                        # curl as the agent
command -v openssl >/dev/null || need_apt+=(openssl)
command -v node >/dev/null || need_apt+=(nodejs npm)                                  # oidc-provider
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "test.sh: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# npm oidc-provider (the OpenID Certified provider) as the tests' identity provider, in the ignored tools folder.
if [ ! -d tools/oidc/node_modules/oidc-provider ]; then
    echo "test.sh: installing oidc-provider into tools/oidc"
    mkdir -p tools/oidc
    cp tools-src/oidc/package.json tools/oidc/
    (cd tools/oidc && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
cp tools-src/oidc/server.mjs tools/oidc/server.mjs

# npm axe-core: the accessibility check the console's tests run in Chromium on every page.
if [ ! -f tools/axe/node_modules/axe-core/axe.min.js ]; then
    echo "test.sh: installing axe-core into tools/axe"
    mkdir -p tools/axe
    cp tools-src/axe/package.json tools/axe/
    (cd tools/axe && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test Hoop.sln --logger "console;verbosity=normal" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# One plain closing line, whatever the runner printed ("Passed: N" / "Failed: N" in its summary).
passed=$(grep -E '^\s+Passed: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
failed=$(grep -E '^\s+Failed: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
# Repeat each failure (name, message, stack) at the end, where a truncated CI log still shows it.
awk '/^  Failed [A-Za-z]/ { n = 40 } n > 0 { print; n-- }' "$log"
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$status"
