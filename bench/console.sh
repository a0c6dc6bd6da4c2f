#!/usr/bin/env bash
# Console page loads: every page in Chromium, timed from the navigation to the last change of its content (the
# heading is there and nothing has changed for half a second), median of ROUNDS loads after one warm-up. This Hoop
# runs beside BASE_REF's (by default the last commit of the Radzen console) with the same data, and the loads
# alternate between the two, so both see the same machine.
#   bench/console.sh
# Environment: ROUNDS (default 7), BASE_REF (default aae201c; empty: this Hoop alone), KEEP=1 (keep logs and stores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS=${ROUNDS:-7}
BASE_REF=${BASE_REF-aae201c}
PASSWORD=bench-password-1
command -v chromium >/dev/null || { echo "bench: run ./test.sh once first (it installs chromium)"; exit 1; }

work=$(mktemp -d /tmp/hoop-console-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "bench: publishing Release (Hoop.Admin, ConsoleLoad)"
dotnet publish Hoop.Admin/Hoop.Admin.csproj -c Release -o "$work/current-bin" -v q -nologo >/dev/null
dotnet publish bench/ConsoleLoad -c Release -o "$work/load-bin" -v q -nologo >/dev/null
if [ -n "$BASE_REF" ]; then
    echo "bench: publishing Release (Hoop.Admin at $BASE_REF)"
    git worktree add -q --detach "$work/base-src" "$BASE_REF"
    (cd "$work/base-src" && dotnet publish Hoop.Admin/Hoop.Admin.csproj -c Release -o "$work/base-bin" -v q -nologo >/dev/null)
    git worktree remove --force "$work/base-src"
fi

# Starts one Hoop with a fresh store and gives it the same data: a connection whose backend is its own console,
# a group, an API key, and a session of 20 requests through the proxy. Prints its console URL and session id.
start() {
    local name=$1 bin=$2 console proxy
    console=$(free_port) proxy=$(free_port)
    mkdir -p "$work/$name"
    (cd "$work/$name" && exec env Hoop__DataFolder="$work/$name/data" Hoop__ConsoleUrl="https://localhost:$console" Hoop__ProxyPort="$proxy" \
        Hoop__PostgresPort="$(free_port)" Hoop__AcmeHttpPort="$(free_port)" HOOP_ADMIN_PASSWORD=$PASSWORD "$bin/Hoop.Admin" >"$work/$name/hoop.log" 2>&1) &
    pids+=($!)
    for _ in $(seq 100); do curl -skf "https://localhost:$console/readyz" >/dev/null && break; sleep 0.2; done
    local api=(curl -skf -u "admin:$PASSWORD" -H "Content-Type: application/json")
    curl -skf "https://localhost:$console/certificate.pem" >"$work/$name/certificate.pem"
    "${api[@]}" "https://localhost:$console/api/v1/connections" -d "$(python3 -c '
import json, sys
print(json.dumps({"name": "ledger", "kind": "Http", "address": sys.argv[1], "tlsVerification": "CaBundle",
                  "caBundlePem": open(sys.argv[2]).read(), "credential": {"kind": "Bearer", "secret": "bench-backend-secret"}}))' \
        "https://localhost:$console/" "$work/$name/certificate.pem")" >/dev/null
    "${api[@]}" "https://localhost:$console/api/v1/groups" -d '{"name": "developers", "roles": [], "connections": ["ledger"]}' >/dev/null
    local key
    key=$("${api[@]}" "https://localhost:$console/api/v1/api-keys" -d '{"name": "bench-agent", "groups": ["developers"]}' \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
    for _ in $(seq 20); do
        curl -sf --cacert "$work/$name/certificate.pem" -H "Authorization: Bearer $key" "https://localhost:$proxy/ledger/healthz" >/dev/null
    done
    sleep 2 # The recorder writes in the background.
    local session
    session=$("${api[@]}" "https://localhost:$console/api/v1/sessions" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
    echo "https://localhost:$console $session"
}

# Run in this shell (not a pipe's), so the trap knows each Hoop's pid.
start current "$work/current-bin" >"$work/current.target"
read -r url session <"$work/current.target"
targets=("current=$url@$session")
if [ -n "$BASE_REF" ]; then
    start base "$work/base-bin" >"$work/base.target"
    read -r url session <"$work/base.target"
    targets+=("base=$url@$session")
fi

# Pages both versions have, and ("+") those only this one has (a page per record, for example); {session} is each
# Hoop's own recorded session.
paths=("" connections +connections/ledger groups +groups/developers api-keys masking guardrails reviews sessions "+sessions/{session}"
    "sessions/{session}/replay" audit certificates logs settings)
mkdir -p bench/results
out="bench/results/console-$(date -u +%Y%m%d-%H%M%S).md"
{
    echo "Console page loads, $(date -u +%Y-%m-%d), $(nproc) cores, Chromium $(chromium --version 2>/dev/null | awk '{print $2}'),${BASE_REF:+ base is $BASE_REF,} median of $ROUNDS loads"
    echo
    "$work/load-bin/ConsoleLoad" "$ROUNDS" "$PASSWORD" "${targets[@]}" -- "${paths[@]}"
} | tee "$out"
echo "bench: written to $out"
