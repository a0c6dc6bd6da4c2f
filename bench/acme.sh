#!/usr/bin/env bash
# ACME benchmark: Hoop and Caddy each get a certificate from the same pebble, side by side in one run, from a
# fresh data folder each round (a first start: new store, new ACME account). Measured from the outside by
# bench/acme-probe.py: process start to a listening TLS port, process start to the first handshake that verifies
# against pebble's root, and then the renewal of that certificate (pebble issues short-lived ones, each server
# renews on its own schedule) while a client loops handshakes through the swap, counting those that fail.
# Rounds interleave the targets: caddy, hoop (http-01), hoop (tls-alpn-01).
#   bench/acme.sh
# Environment: ROUNDS (default 5), VALIDITY (s, pebble's certificate lifetime, default 30), HOOP_BIN (a published
# Hoop.Admin folder to use instead of publishing one), KEEP=1 (keep the servers' logs), TARGETS (default
# "caddy hoop-http-01 hoop-tls-alpn-01"; the ratio column needs caddy).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
ROUNDS=${ROUNDS:-5}
VALIDITY=${VALIDITY:-30}
TARGETS=${TARGETS:-caddy hoop-http-01 hoop-tls-alpn-01}
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)

command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null
}
command -v caddy >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy >/dev/null
}

work=$(mktemp -d /tmp/hoop-acme-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "bench: logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HTTP01=$(free_port) TLS=$(free_port) PEBBLE=$(free_port) PEBBLE_MGMT=$(free_port) DNS=$(free_port) DNS_MGMT=$(free_port)
CONSOLE=$(free_port) PG=$(free_port)

# Pebble's own TLS certificate, from a CA of this run.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Pebble TLS CA" \
    -keyout "$work/tls-ca.key" -out "$work/tls-ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$work/pebble.key" -out "$work/pebble.csr" 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" > "$work/ext.cnf"
openssl x509 -req -in "$work/pebble.csr" -CA "$work/tls-ca.pem" -CAkey "$work/tls-ca.key" -CAcreateserial -days 2 \
    -extfile "$work/ext.cnf" -out "$work/pebble.pem" 2>/dev/null
cat > "$work/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$PEBBLE", "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT",
  "certificate": "$work/pebble.pem", "privateKey": "$work/pebble.key", "httpPort": $HTTP01, "tlsPort": $TLS,
  "ocspResponderURL": "", "externalAccountBindingRequired": false, "certificateValidityPeriod": $VALIDITY}}
JSON

# Every name resolves to 127.0.0.1. Validation at full speed and no rejected nonces: both servers see the same
# pebble, with nothing random in its answers.
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$DNS" -http01 "" -https01 "" \
    -tlsalpn01 "" -management "127.0.0.1:$DNS_MGMT" >"$work/dns.log" 2>&1 &
pids+=($!)
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 pebble -config "$work/pebble.json" -dnsserver "127.0.0.1:$DNS" >"$work/pebble.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf --cacert "$work/tls-ca.pem" "https://127.0.0.1:$PEBBLE/dir" >/dev/null && break; sleep 0.1; done
curl -sf --cacert "$work/tls-ca.pem" "https://127.0.0.1:$PEBBLE_MGMT/roots/0" > "$work/root.pem" || { cat "$work/pebble.log"; exit 1; }

if [ -n "${HOOP_BIN:-}" ]; then
    hoop_bin=$HOOP_BIN
else
    echo "bench: publishing Release (Hoop.Admin)"
    dotnet publish Hoop.Admin/Hoop.Admin.csproj -c Release -o "$work/hoop-bin" -v q -nologo >/dev/null
    hoop_bin=$work/hoop-bin
fi

probe() { python3 "$root/bench/acme-probe.py" --port "$TLS" --name hoop.test --root "$work/root.pem" \
    --swap-timeout $((VALIDITY * 3)) "$@"; }

run_caddy() {
    local data=$work/caddy-$1
    mkdir -p "$data"
    cat > "$data/Caddyfile" <<CADDY
{
	admin off
	http_port $HTTP01
	https_port $TLS
	acme_ca https://127.0.0.1:$PEBBLE/dir
	acme_ca_root $work/tls-ca.pem
	email ops@hoop.test
	storage file_system $data/storage
	skip_install_trust
	renew_interval 1s
	ocsp_stapling off
}
hoop.test, agents.hoop.test {
	respond "ok"
}
CADDY
    HOME=$data XDG_DATA_HOME=$data XDG_CONFIG_HOME=$data \
        probe --log "$data/caddy.log" -- caddy run --config "$data/Caddyfile" --adapter caddyfile
}

run_hoop() {
    local data=$work/hoop-$1-$2
    mkdir -p "$data"
    (
        export Hoop__DataFolder="$data" Hoop__ConsoleUrl="https://localhost:$CONSOLE" Hoop__ProxyPort="$TLS" \
            Hoop__PostgresPort="$PG" Hoop__AcmeHttpPort="$HTTP01" HOOP_ADMIN_PASSWORD=bench-password-1 \
            Hoop__HostNames__0=hoop.test Hoop__HostNames__1=agents.hoop.test \
            Hoop__Acme__DirectoryUrl="https://127.0.0.1:$PEBBLE/dir" Hoop__Acme__Email=ops@hoop.test \
            Hoop__Acme__Challenge="$2" Hoop__Acme__TrustedRootsFile="$work/tls-ca.pem" Hoop__Acme__AllowReservedNames=true
        probe --log "$data/hoop.log" -- "$hoop_bin/Hoop.Admin"
    )
}

for round in $(seq "$ROUNDS"); do
    echo "bench: round $round of $ROUNDS"
    for target in $TARGETS; do
        case $target in
            caddy) out=$(run_caddy "$round") || { echo "bench: caddy got no certificate"; cat "$work/caddy-$round/caddy.log"; exit 1; } ;;
            hoop-*) out=$(run_hoop "$round" "${target#hoop-}") || { echo "bench: $target got no certificate"; cat "$work/hoop-$round-${target#hoop-}/hoop.log"; exit 1; } ;;
        esac
        echo "  $target $out"
        echo "$target $out" >> "$work/raw"
    done
done

# median <target> <field>
median() {
    grep "^$1 " "$work/raw" | sed "s/^$1 //" |
        python3 -c "import json,sys,statistics; v=[json.loads(l)['$2'] for l in sys.stdin]; v=[x for x in v if x is not None]; print(f'{statistics.median(v):.2f}' if v else '-')"
}
total() { grep "^$1 " "$work/raw" | sed "s/^$1 //" | python3 -c "import json,sys; print(sum(json.loads(l)['$2'] for l in sys.stdin))"; }
swaps() { grep "^$1 " "$work/raw" | sed "s/^$1 //" | python3 -c "import json,sys; print(sum(json.loads(l)['swap'] is not None for l in sys.stdin))"; }

mkdir -p bench/results
result="bench/results/acme-$(date -u +%Y%m%d-%H%M).md"
caddy_cert=$(median caddy cert)
{
    echo "ACME against pebble (every name on 127.0.0.1, no validation sleep), $(date -u +%Y-%m-%d), $(nproc) cores,"
    echo "load before the run: $LOAD_BEFORE; median of $ROUNDS interleaved rounds, fresh data folder each (first start)."
    echo
    echo "| server | start to listening | start to first ACME certificate | vs Caddy | renewals swapped | handshakes during renewal | failed |"
    echo "|---|---|---|---|---|---|---|"
    for target in $TARGETS; do
        cert=$(median $target cert)
        ratio=$(python3 -c "print(f'{$cert / $caddy_cert:.2f}x')")
        echo "| $target | $(median $target ready) s | $cert s | $ratio | $(swaps $target) of $ROUNDS | $(total $target handshakes) | $(total $target failed) |"
    done
    echo
    echo "Each round (seconds; swap is counted from the first certificate):"
    echo
    sed 's/^/    /' "$work/raw"
} > "$result"
echo
cat "$result"
echo "bench: written to $result"
