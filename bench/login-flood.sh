#!/usr/bin/env bash
# Password guessing against the data path: proxied requests (wrk through Hoop's proxy port, 1 KB, recorded) on
# their own, and again while a burst of 1,000 wrong break-glass Basic attempts hits the admin API from another
# loopback address. Each attempt that is checked costs a 600,000-iteration PBKDF2; Hoop's password limiter
# checks a few and answers the rest 429. Quiet and flooded runs are interleaved; the median is reported.
#   bench/login-flood.sh     (needs ./test.sh to have run once, for tools/oidc)
# Environment: DURATION (s per run, default 10), CONNECTIONS (default 64), ROUNDS (default 3),
# ATTEMPTS (wrong attempts per burst, default 1000), PARALLEL (attempts in flight, default 50).
source "$(dirname "$0")/common.sh"
ATTEMPTS=${ATTEMPTS:-1000}
PARALLEL=${PARALLEL:-50}

TOKEN=$(token)
code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$HOOP/bench/1k")
[ "$code" = 200 ] || { echo "bench: Hoop answered $code"; cat "$work/hoop.log"; exit 1; }

echo "bench: warming up"
wrk -t2 -c"$CONNECTIONS" -d"${WARMUP:-20}s" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$HOOP/bench/1k" >/dev/null

# The burst: ATTEMPTS wrong passwords from <source address>, PARALLEL at a time over reused connections. Writes
# "<401s> <429s> <others> <seconds>" to <file>.
flood() {
    local source=$1 out=$2 config="$work/flood.cfg" start end
    : > "$config"
    for i in $(seq "$ATTEMPTS"); do
        printf 'url = "https://localhost:%s/api/v1/connections"\noutput = "/dev/null"\n' "$CONSOLE" >> "$config"
    done
    start=$(date +%s.%N)
    curl -sk --no-progress-meter --interface "$source" --parallel --parallel-max "$PARALLEL" -u "admin:wrong-guess" \
        -w '%{http_code}\n' --config "$config" > "$work/flood-codes" || true
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" '$1==401 {a++} $1==429 {t++} $1!=401 && $1!=429 {o++}
        END {printf "%d %d %d %.1f\n", a, t, o, e - s}' "$work/flood-codes" > "$out"
}

# The right password from 127.0.0.1, half a second into a burst: its status and time to answer in ms.
right_password() {
    curl -sk -o /dev/null -w '%{http_code} %{time_total}\n' -u "admin:bench-admin-password" \
        "https://localhost:$CONSOLE/api/v1/connections" | awk '{printf "%s %.0f\n", $1, $2 * 1000}'
}

for round in $(seq "$ROUNDS"); do
    echo "bench: round $round of $ROUNDS"
    TOKEN=$(token)
    run quiet "https://127.0.0.1:$HOOP/bench/1k" 1k
    # A new source address each round: the back-off of the last round's source must not make this burst cheaper.
    source_address="127.0.0.$((10 + round))"
    ( sleep 2; flood "$source_address" "$work/flood-$round" & sleep 0.5; right_password > "$work/right-$round"; wait ) &
    flooder=$!
    run flooded "https://127.0.0.1:$HOOP/bench/1k" 1k
    wait $flooder
    read -r a t o s < "$work/flood-$round"
    read -r rc rms < "$work/right-$round"
    echo "  burst from $source_address: $a answered 401, $t answered 429, $o other, in $s s; right password from 127.0.0.1 during it: $rc in $rms ms"
    echo "$a $t $o $s $rc $rms" >> "$work/floods"
done

mkdir -p bench/results
result="bench/results/login-flood-$(date -u +%Y%m%d-%H%M).md"
{
    echo "Password guessing vs. the data path, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t2 -c$CONNECTIONS -d${DURATION}s over TLS (1 KB, recorded), median of $ROUNDS interleaved rounds; burst of $ATTEMPTS wrong Basic attempts, $PARALLEL in flight, 2 s into each flooded run"
    echo
    echo "| run | requests/s | p50 ms | p99 ms | p99 vs quiet |"
    echo "|---|---|---|---|---|"
    read -r qr qa qb <<<"$(median quiet 1k)"
    read -r fr fa fb <<<"$(median flooded 1k)"
    echo "| quiet | $qr | $qa | $qb | 1.00x |"
    echo "| during the burst | $fr | $fa | $fb | $(awk -v f="$fb" -v q="$qb" 'BEGIN {printf "%.2fx", f / q}') |"
    echo
    echo "| round | 401 (checked, wrong) | 429 (not checked) | other | burst took | right password from 127.0.0.1 during the burst |"
    echo "|---|---|---|---|---|---|"
    n=0
    while read -r a t o s rc rms; do n=$((n + 1)); echo "| $n | $a | $t | $o | $s s | $rc in $rms ms |"; done < "$work/floods"
    echo
    refusals
} > "$result"
echo
cat "$result"
echo "bench: written to $result"
