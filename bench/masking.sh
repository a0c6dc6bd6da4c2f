#!/usr/bin/env bash
# Masking benchmark, two parts in one run:
#  1. the masking engine alone (bench/MaskingBench): MB/s on a 1 MB JSON document beside a parse-and-write-back
#     baseline, and strings/s on 10,000 short strings, every built-in detector on;
#  2. Hoop's HTTP data path with masking on vs off: the same 1 KB JSON document from the same backend through
#     the connections "masked" (every built-in detector on the response) and "bench" (no rules), interleaved.
#   bench/masking.sh         (needs ./test.sh to have run once, for tools/oidc)
# Environment: DURATION, CONNECTIONS, ROUNDS, WARMUP as for bench/http.sh; ENGINE_SECONDS (default 5).
source "$(dirname "$0")/common.sh"

echo "bench: masking engine"
engine=$(dotnet run -c Release --project bench/MaskingBench -v q -- "${ENGINE_SECONDS:-5}" 2>/dev/null | grep -E '^(masking-bench|\|)')
echo "$engine"

TOKEN=$(token)
for path in bench masked; do
    code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$HOOP/$path/1k.json")
    [ "$code" = 200 ] || { echo "bench: /$path/1k.json answered $code"; cat "$work/hoop.log"; exit 1; }
done
curl -sk -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$HOOP/masked/1k.json" | grep -q '\[EMAIL\]' ||
    { echo "bench: the masked connection does not mask"; exit 1; }

echo "bench: warming up"
for path in bench masked; do
    wrk -t2 -c"$CONNECTIONS" -d"${WARMUP:-20}s" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$HOOP/$path/1k.json" >/dev/null
done

for round in $(seq "$ROUNDS"); do
    echo "bench: round $round of $ROUNDS"
    TOKEN=$(token)
    measure off "https://127.0.0.1:$HOOP/bench/1k.json" 1k "$hoop_pid"
    measure on "https://127.0.0.1:$HOOP/masked/1k.json" 1k "$hoop_pid"
done
off_cpu=$(cpu_median off 1k)
on_cpu=$(cpu_median on 1k)

mkdir -p bench/results
result="bench/results/masking-$(date -u +%Y%m%d-%H%M).md"
read -r off_rps off_p50 off_p99 <<<"$(median off 1k)"
read -r on_rps on_p50 on_p99 <<<"$(median on 1k)"
{
    echo "Masking, $(date -u +%Y-%m-%d), $(nproc) cores"
    echo
    echo "$engine"
    echo
    echo "Hoop, 1 KB JSON response, wrk -t2 -c$CONNECTIONS -d${DURATION}s over TLS, median of $ROUNDS interleaved rounds"
    echo
    echo "| masking | requests/s | p50 ms | p99 ms | Hoop CPU per request | vs off |"
    echo "|---|---|---|---|---|---|"
    echo "| off | $off_rps | $off_p50 | $off_p99 | $off_cpu µs | |"
    echo "| on (12 detectors) | $on_rps | $on_p50 | $on_p99 | $on_cpu µs | $(awk -v a="$off_cpu" -v b="$on_cpu" 'BEGIN { printf "%+.0f%%", (b/a - 1) * 100 }') CPU, $(awk -v a="$off_rps" -v b="$on_rps" 'BEGIN { printf "%.2fx", b/a }') requests/s |"
    refusals
} > "$result"
echo
cat "$result"
echo "bench: written to $result"
