#!/usr/bin/env bash
# HTTP data path benchmark: the same backend reached directly, through bare YARP, through nginx and Caddy as TLS
# reverse proxies, and through Hoop (OIDC token check + credential injection + recording), side by side in
# one run on this machine. Three interleaved rounds per target and size; the median is reported.
#   bench/http.sh            (needs ./test.sh to have run once, for tools/oidc)
# Environment: DURATION (s per run, default 10), CONNECTIONS (default 64), ROUNDS (default 3),
# WARMUP (s of load per target before measuring, default 20), BASE_REF (a commit or tag: its Hoop, built from a
# worktree, runs beside this one as "hoop-base", to compare two versions in one run).
source "$(dirname "$0")/common.sh"

echo "bench: publishing Release (BareYarp)"
dotnet publish bench/BareYarp -c Release -o "$work/yarp-bin" -v q -nologo >/dev/null
"$work/yarp-bin/BareYarp" $YARP "https://localhost:$BACKEND/" "$work/ca.pem" "$work/server.pfx" >"$work/yarp.log" 2>&1 &
yarp_pid=$!
pids+=($yarp_pid)
for _ in $(seq 50); do curl -sk -o /dev/null "https://127.0.0.1:$YARP/1k" && break; sleep 0.2; done

# Caddy as a TLS reverse proxy: a Go proxy beside nginx, verifying the backend by the bench CA as Hoop does.
CADDY=18449
cat > "$work/Caddyfile" <<CONF
{
    admin off
    auto_https disable_redirects
}
:$CADDY {
    bind 127.0.0.1
    tls $work/server.pem $work/server.key
    reverse_proxy https://localhost:$BACKEND {
        transport http {
            tls_trusted_ca_certs $work/ca.pem
            tls_server_name localhost
            # As many idle backend connections as wrk keeps open (nginx keeps 128): none made again per request.
            keepalive_idle_conns 128
            keepalive_idle_conns_per_host 128
        }
    }
}
CONF
caddy run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
pids+=($caddy_pid)
for _ in $(seq 50); do curl -sk -o /dev/null "https://127.0.0.1:$CADDY/1k" && break; sleep 0.2; done

targets="backend nginx caddy yarp hoop"
if [ -n "${BASE_REF:-}" ]; then
    BASE=18447 BASE_CONSOLE=18448
    echo "bench: publishing Release (HoopBench at $BASE_REF)"
    git worktree add -q --detach "$work/base-src" "$BASE_REF"
    (cd "$work/base-src" && dotnet publish bench/HoopBench -c Release -o "$work/base-bin" -v q -nologo >/dev/null)
    git worktree remove --force "$work/base-src"
    "$work/base-bin/HoopBench" "$work/base-data" $BASE $BASE_CONSOLE "https://localhost:$BACKEND/" \
        "$work/ca.pem" "http://127.0.0.1:$OIDC" "urn:hoop:proxy" >"$work/base.log" 2>&1 &
    base_pid=$!
    pids+=($base_pid)
    for _ in $(seq 100); do grep -q "hoop-bench ready" "$work/base.log" 2>/dev/null && break; sleep 0.2; done
    grep -q "hoop-bench ready" "$work/base.log" || { cat "$work/base.log"; exit 1; }
    targets="$targets hoop-base"
fi

# Every target must answer 200 before anything is measured.
TOKEN=$(token)
for url in "https://127.0.0.1:$BACKEND/1k" "https://127.0.0.1:$NGINX/1k" "https://127.0.0.1:$CADDY/1k" "https://127.0.0.1:$YARP/1k" "https://127.0.0.1:$HOOP/bench/1k" \
    ${BASE:+"https://127.0.0.1:$BASE/bench/1k"}; do
    code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$url")
    [ "$code" = 200 ] || { echo "bench: $url answered $code"; cat "$work/hoop.log"; exit 1; }
done

# Warm-up: .NET tiers its code up under load; measure steady state, not the JIT.
echo "bench: warming up"
for target in "https://127.0.0.1:$BACKEND/1k" "https://127.0.0.1:$NGINX/1k" "https://127.0.0.1:$CADDY/1k" "https://127.0.0.1:$YARP/1k" "https://127.0.0.1:$HOOP/bench/1k" \
    ${BASE:+"https://127.0.0.1:$BASE/bench/1k"}; do
    wrk -t2 -c"$CONNECTIONS" -d"${WARMUP:-20}s" -H "Authorization: Bearer $TOKEN" "$target" >/dev/null
done

for round in $(seq "$ROUNDS"); do
    echo "bench: round $round of $ROUNDS"
    TOKEN=$(token)
    for size in 1k 1m; do
        run backend "https://127.0.0.1:$BACKEND/$size" $size
        run nginx "https://127.0.0.1:$NGINX/$size" $size
        measure caddy "https://127.0.0.1:$CADDY/$size" $size "$caddy_pid"
        measure yarp "https://127.0.0.1:$YARP/$size" $size "$yarp_pid"
        measure hoop "https://127.0.0.1:$HOOP/bench/$size" $size "$hoop_pid"
        if [ -n "${BASE:-}" ]; then measure hoop-base "https://127.0.0.1:$BASE/bench/$size" $size "$base_pid"; fi
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
rps1000=$(awk '/requests in/ {t=$1; s=$4; sub(/s,?$/, "", s)} /Non-2xx or 3xx responses/ {r=$5} END {printf "%.2f", (t - r) / s}' "$work/wrk1000")

mkdir -p bench/results
result="bench/results/http-$(date -u +%Y%m%d-%H%M).md"
{
    echo "HTTP data path, $(date -u +%Y-%m-%d), $(nproc) cores,${BASE_REF:+ hoop-base is $BASE_REF,} wrk -t2 -c$CONNECTIONS -d${DURATION}s over TLS, median of $ROUNDS interleaved rounds"
    echo
    echo "| path | size | requests/s | p50 ms | p99 ms | proxy CPU per request |"
    echo "|---|---|---|---|---|---|"
    for size in 1k 1m; do
        for name in $targets; do
            read -r r a b <<<"$(median $name $size)"
            cpu=$(cpu_median $name $size)
            echo "| $name | $size | $r | $a | $b | ${cpu:+$cpu µs} |"
        done
    done
    echo
    refusals
    echo "Hoop with 1,000 keep-alive connections: ${rps1000} requests/s; resident memory ${idle} MB idle, ${peak} MB peak."
} > "$result"
echo
cat "$result"
echo "bench: written to $result"
