#!/usr/bin/env bash
# HTTP data path benchmark: the same backend reached directly, through bare YARP, through nginx as a TLS
# reverse proxy, and through Hoop (OIDC token check + credential injection + recording), side by side in
# one run on this machine. Three interleaved rounds per target and size; the median is reported.
#   bench/http.sh            (needs ./test.sh to have run once, for tools/oidc)
# Environment: DURATION (s per run, default 10), CONNECTIONS (default 64), ROUNDS (default 3),
# WARMUP (s of load per target before measuring, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}

command -v wrk >/dev/null && command -v nginx >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx >/dev/null
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
echo "bench: publishing Release (BareYarp, HoopBench)"
dotnet publish bench/BareYarp -c Release -o "$work/yarp-bin" -v q -nologo >/dev/null
dotnet publish bench/HoopBench -c Release -o "$work/hoop-bin" -v q -nologo >/dev/null

(cd tools/oidc && exec node server.mjs $OIDC '[{"client_id":"bench-agent","client_secret":"bench-secret","groups":["bench"]}]' >"$work/oidc.log" 2>&1) &
pids+=($!)
"$work/yarp-bin/BareYarp" $YARP "https://localhost:$BACKEND/" "$work/ca.pem" "$work/server.pfx" >"$work/yarp.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$OIDC/.well-known/openid-configuration" >/dev/null && break; sleep 0.2; done
"$work/hoop-bin/HoopBench" "$work/hoop-data" $HOOP $CONSOLE "https://localhost:$BACKEND/" \
    "$work/ca.pem" "http://127.0.0.1:$OIDC" "urn:hoop:proxy" >"$work/hoop.log" 2>&1 &
hoop_pid=$!
pids+=($hoop_pid)
for _ in $(seq 100); do grep -q "hoop-bench ready" "$work/hoop.log" 2>/dev/null && break; sleep 0.2; done
grep -q "hoop-bench ready" "$work/hoop.log" || { cat "$work/hoop.log"; exit 1; }

token() {
    curl -sf -u bench-agent:bench-secret -d grant_type=client_credentials -d scope=hoop "http://127.0.0.1:$OIDC/token" |
        sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

# Every target must answer 200 before anything is measured.
TOKEN=$(token)
for url in "https://127.0.0.1:$BACKEND/1k" "https://127.0.0.1:$NGINX/1k" "https://127.0.0.1:$YARP/1k" "https://127.0.0.1:$HOOP/bench/1k"; do
    code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$url")
    [ "$code" = 200 ] || { echo "bench: $url answered $code"; cat "$work/hoop.log"; exit 1; }
done

to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v } else if (v ~ /s$/) { sub(/s$/,"",v); print v*1000 } else print v }'; }

# run <name> <url> <size>: one wrk run, appends "name size rps p50 p99" to the raw file.
run() {
    local out
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$2")
    local rps p50 p99
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
    p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_ms)
    echo "$1 $3 $rps $p50 $p99" >> "$work/raw"
    printf '  %-8s %-3s %10s req/s  p50 %7s ms  p99 %7s ms\n' "$1" "$3" "$rps" "$p50" "$p99"
}

# Warm-up: .NET tiers its code up under load; measure steady state, not the JIT.
echo "bench: warming up"
for target in "https://127.0.0.1:$BACKEND/1k" "https://127.0.0.1:$NGINX/1k" "https://127.0.0.1:$YARP/1k" "https://127.0.0.1:$HOOP/bench/1k"; do
    wrk -t2 -c"$CONNECTIONS" -d"${WARMUP:-20}s" -H "Authorization: Bearer $TOKEN" "$target" >/dev/null
done

for round in $(seq "$ROUNDS"); do
    echo "bench: round $round of $ROUNDS"
    TOKEN=$(token)
    for size in 1k 1m; do
        run backend "https://127.0.0.1:$BACKEND/$size" $size
        run nginx "https://127.0.0.1:$NGINX/$size" $size
        run yarp "https://127.0.0.1:$YARP/$size" $size
        run hoop "https://127.0.0.1:$HOOP/bench/$size" $size
    done
done

# Hoop's memory with 1,000 concurrent keep-alive connections.
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$hoop_pid/status"; }
idle=$(rss)
TOKEN=$(token)
wrk -t2 -c1000 -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$HOOP/bench/1k" >"$work/wrk1000" &
wrk_pid=$!
peak=$idle
while kill -0 $wrk_pid 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.5; done
rps1000=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk1000")

mkdir -p bench/results
result="bench/results/http-$(date -u +%Y%m%d-%H%M).md"
{
    echo "HTTP data path, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t2 -c$CONNECTIONS -d${DURATION}s over TLS, median of $ROUNDS interleaved rounds"
    echo
    echo "| path | size | requests/s | p50 ms | p99 ms |"
    echo "|---|---|---|---|---|"
    for size in 1k 1m; do
        for name in backend nginx yarp hoop; do
            awk -v n=$name -v s=$size '$1==n && $2==s {print $3, $4, $5}' "$work/raw" | sort -n |
                awk -v n=$name -v s=$size '{r[NR]=$1; a[NR]=$2; b[NR]=$3} END {m=int((NR+1)/2); printf "| %s | %s | %s | %s | %s |\n", n, s, r[m], a[m], b[m]}'
        done
    done
    echo
    echo "Hoop with 1,000 keep-alive connections: ${rps1000} requests/s; resident memory ${idle} MB idle, ${peak} MB peak."
} > "$result"
echo
cat "$result"
echo "bench: written to $result"
