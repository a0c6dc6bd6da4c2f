# Shared by the benchmarks: a bench CA, nginx as the TLS backend (and as a TLS reverse proxy; bench/http.sh adds Caddy), npm
# oidc-provider for tokens, and Hoop (bench/HoopBench, published Release) seeded with the connections
# "bench" (no masking) and "masked" (response masking on). Sourced by bench/http.sh and bench/masking.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}

command -v wrk >/dev/null && command -v nginx >/dev/null && command -v caddy >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx caddy >/dev/null
}
[ -f tools/oidc/node_modules/oidc-provider/package.json ] || { echo "bench: run ./test.sh once first (it installs tools/oidc)"; exit 1; }
cp tools-src/oidc/server.mjs tools/oidc/server.mjs

work=$(mktemp -d /tmp/hoop-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

BACKEND=18441 NGINX=18442 YARP=18443 HOOP=18444 CONSOLE=18445 OIDC=18446

# A bench CA and a certificate for localhost, used by every TLS listener here.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Hoop bench CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" > "$work/ext.cnf"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile "$work/ext.cnf" -out "$work/server.pem" 2>/dev/null
openssl pkcs12 -export -in "$work/server.pem" -inkey "$work/server.key" -out "$work/server.pfx" -passout pass: 2>/dev/null

mkdir -p "$work/www"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$work/www/1k"
head -c 1048576 /dev/urandom > "$work/www/1m"
# About 1 KB of JSON records with personal data, for the masking benchmark.
python3 -c '
import json
rows = [{"id": i, "name": "Customer %d" % i, "email": "person%d@example.com" % i, "phone": "+1 415-555-%04d" % (1000 + i),
         "note": "Order shipped on schedule", "amount": 12.5 * i} for i in range(7)]
print(json.dumps(rows))' > "$work/www/1k.json"

cat > "$work/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
    ssl_certificate $work/server.pem;
    ssl_certificate_key $work/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    types { application/json json; }
    default_type application/octet-stream;
    server { listen 127.0.0.1:$BACKEND ssl; root $work/www; location / { } }
    upstream backend { server 127.0.0.1:$BACKEND; keepalive 128; }
    server {
        listen 127.0.0.1:$NGINX ssl;
        location / {
            proxy_pass https://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $work/ca.pem;
            proxy_ssl_name localhost;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
        }
    }
}
CONF
nginx -c "$work/nginx.conf"
pids+=("$(cat "$work/nginx.pid")")

# Published, as the product runs (a bin/ build adds development-only static-asset probing to routing).
echo "bench: publishing Release (HoopBench)"
dotnet publish bench/HoopBench -c Release -o "$work/hoop-bin" -v q -nologo >/dev/null

(cd tools/oidc && exec node server.mjs $OIDC '[{"client_id":"bench-agent","client_secret":"bench-secret","groups":["bench"]}]' >"$work/oidc.log" 2>&1) &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$OIDC/.well-known/openid-configuration" >/dev/null && break; sleep 0.2; done
# HOOP_ENV: settings for Hoop's process alone (e.g. HOOP_ENV=DOTNET_gcServer=0 to measure it with the workstation GC).
env ${HOOP_ENV:-} "$work/hoop-bin/HoopBench" "$work/hoop-data" $HOOP $CONSOLE "https://localhost:$BACKEND/" \
    "$work/ca.pem" "http://127.0.0.1:$OIDC" "urn:hoop:proxy" >"$work/hoop.log" 2>&1 &
hoop_pid=$!
pids+=($hoop_pid)
for _ in $(seq 100); do grep -q "hoop-bench ready" "$work/hoop.log" 2>/dev/null && break; sleep 0.2; done
grep -q "hoop-bench ready" "$work/hoop.log" || { cat "$work/hoop.log"; exit 1; }

token() {
    curl -sf -u bench-agent:bench-secret -d grant_type=client_credentials -d scope=hoop "http://127.0.0.1:$OIDC/token" |
        sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v } else if (v ~ /s$/) { sub(/s$/,"",v); print v*1000 } else print v }'; }

# run <name> <url> <size>: one wrk run, appends "name size rps p50 p99 refused" to the raw file. requests/s counts
# only answers of 2xx/3xx: a proxy that refuses (Hoop's 503 when recording cannot keep up) is not credited for them.
run() {
    local out
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$2")
    local total seconds refused rps p50 p99
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    seconds=$(awk '/requests in/ {sub(/s,?$/, "", $4); print $4}' <<<"$out")
    refused=$(awk '/Non-2xx or 3xx responses/ {print $5}' <<<"$out")
    refused=${refused:-0}
    rps=$(awk -v t="$total" -v r="$refused" -v s="$seconds" 'BEGIN {printf "%.2f", (t - r) / s}')
    p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
    p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_ms)
    echo "$1 $3 $rps $p50 $p99 $refused" >> "$work/raw"
    printf '  %-8s %-3s %10s req/s  p50 %7s ms  p99 %7s ms  refused %s\n' "$1" "$3" "$rps" "$p50" "$p99" "$refused"
}

# refusals: one line naming every run that had answers other than 2xx/3xx (empty when none had).
refusals() {
    awk '$6 > 0 {printf "%s%s %s: %d", (n++ ? "; " : "Runs with refused (non-2xx) answers, not counted in requests/s: "), $1, $2, $6} END {if (n) print ""}' "$work/raw"
}

# median <name> <size>: "rps p50 p99" of the median run (by requests/s) of one target.
median() {
    awk -v n="$1" -v s="$2" '$1==n && $2==s {print $3, $4, $5}' "$work/raw" | sort -n |
        awk '{r[NR]=$1; a[NR]=$2; b[NR]=$3} END {m=int((NR+1)/2); print r[m], a[m], b[m]}'
}

# measure <name> <url> <size> <pid>: run, plus the process's own CPU time (user + system, from /proc) per request,
# appended as "name size µs" to the cpu file; steadier than requests/s on 2 cores that wrk and the backend share.
# The count runs until the process is idle again, so work a run leaves behind (Hoop's search indexing catches up
# after a burst) is charged to that run and not to the next one.
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
settle() {
    local last now
    last=$(cpu_of "$1")
    for _ in $(seq 60); do
        sleep 1
        now=$(cpu_of "$1")
        [ $((now - last)) -le 2 ] && return 0
        last=$now
    done
    echo "bench: process $1 was still busy after 60 s; its CPU per request includes that minute" >&2
}
measure() {
    local before after requests
    before=$(cpu_of "$4")
    run "$1" "$2" "$3"
    settle "$4"
    after=$(cpu_of "$4")
    requests=$(tail -1 "$work/raw" | awk -v d="$DURATION" '{printf "%d", $3 * d}')
    [ "$requests" -gt 0 ] || { echo "bench: no requests completed against $2"; exit 1; }
    echo "$1 $3 $(( (after - before) * 1000000 / ticks / requests ))" >> "$work/cpu"
}

# cpu_median <name> <size>: the median CPU per request of one target's runs, in µs.
cpu_median() { awk -v n="$1" -v s="$2" '$1==n && $2==s {print $3}' "$work/cpu" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
