#!/usr/bin/env bash
# Postgres proxy benchmark: pgbench against the same PostgreSQL 15 directly, through PgBouncer (the reference
# proxy), through a bare .NET TLS relay (bench/BareRelay: what any SslStream-based proxy pays, nothing parsed),
# through Hoop (token login, recording on, no masking), and through Hoop with a column masking rule, side by
# side in one run on this machine. Every hop is TLS. Rounds are interleaved; the median is reported.
#   bench/postgres.sh        (needs ./test.sh to have run once, for tools/oidc)
# Environment: DURATION (s per run, default 10), ROUNDS (default 3), CLIENTS (default 8), SCALE (default 10),
# CPU_PROFILE=1 (also CPU per transaction of each process), PERF_PROFILE=1 (also where Hoop's and the bare relay's
# CPU goes under -S, sampled with perf and grouped by part; ROUNDS=0 gives the profile alone).
PG=18450 BOUNCER=18451 RELAY=18452 HOOPPG=18447
export HOOP_BENCH_PG_ADDRESS="127.0.0.1:$PG/bench" HOOP_BENCH_PG_PASSWORD="bench-db-password" Hoop__PostgresPort=$HOOPPG
# .NET writes a map of its compiled methods for perf to name them (with W^X off, so the code is where the map says).
if [ "${PERF_PROFILE:-0}" = 1 ]; then
    HOOP_ENV="${HOOP_ENV:-} DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0"
    export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
fi
source "$(dirname "$0")/common.sh"
CLIENTS=${CLIENTS:-8}
SCALE=${SCALE:-10}
bin=/usr/lib/postgresql/15/bin
command -v pgbouncer >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }

# PostgreSQL and PgBouncer refuse to run as root: both run as 'postgres', with the bench CA's certificate.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$work/pg"
echo "$HOOP_BENCH_PG_PASSWORD" > "$work/pg/pw"
cp "$work/server.pem" "$work/server.key" "$work/ca.pem" "$work/pg/"
chmod 600 "$work/pg/server.key"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$work/pg" && chmod 755 "$work"
as_pg "$bin/initdb" -D "$work/pg/data" -U app --pwfile="$work/pg/pw" -A scram-sha-256 -E UTF8 --no-locale -N >/dev/null
cat >> "$work/pg/data/postgresql.conf" <<CONF
port = $PG
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work/pg'
ssl = on
ssl_cert_file = '$work/pg/server.pem'
ssl_key_file = '$work/pg/server.key'
max_connections = 100
shared_buffers = 256MB
CONF
as_pg "$bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start >/dev/null
stop_pg() { as_pg "$bin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true; }
trap 'stop_pg; cleanup' EXIT
export PGPASSWORD="$HOOP_BENCH_PG_PASSWORD"
"$bin/createdb" -h 127.0.0.1 -p $PG -U app bench
echo "bench: pgbench -i -s $SCALE"
"$bin/pgbench" -i -q -s "$SCALE" "host=127.0.0.1 port=$PG dbname=bench user=app sslmode=require" 2>/dev/null

cat > "$work/pg/pgbouncer.ini" <<CONF
[databases]
bench = host=127.0.0.1 port=$PG dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $work/pg/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 20
client_tls_sslmode = require
client_tls_cert_file = $work/pg/server.pem
client_tls_key_file = $work/pg/server.key
server_tls_sslmode = verify-full
server_tls_ca_file = $work/pg/ca.pem
logfile = $work/pg/pgbouncer.log
pidfile = $work/pg/pgbouncer.pid
CONF
echo "\"app\" \"$HOOP_BENCH_PG_PASSWORD\"" > "$work/pg/userlist.txt"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$work/pg/pgbouncer.ini" "$work/pg/userlist.txt"
as_pg pgbouncer -d "$work/pg/pgbouncer.ini"
for _ in $(seq 50); do [ -f "$work/pg/pgbouncer.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$work/pg/pgbouncer.pid")")

echo "bench: publishing Release (BareRelay)"
dotnet publish bench/BareRelay -c Release -o "$work/relay-bin" -v q -nologo >/dev/null
"$work/relay-bin/BareRelay" $RELAY "127.0.0.1:$PG" "$work/ca.pem" "$work/server.pfx" >"$work/relay.log" 2>&1 &
relay_pid=$!
pids+=($relay_pid)
for _ in $(seq 50); do grep -q "bare-relay ready" "$work/relay.log" && break; sleep 0.2; done

TOKEN=$(token)
target() { # target <name> -> "password|connection string"
    case $1 in
        direct) echo "$HOOP_BENCH_PG_PASSWORD|host=127.0.0.1 port=$PG dbname=bench user=app sslmode=verify-full sslrootcert=$work/ca.pem" ;;
        pgbouncer) echo "$HOOP_BENCH_PG_PASSWORD|host=localhost port=$BOUNCER dbname=bench user=app sslmode=verify-full sslrootcert=$work/ca.pem" ;;
        # SCRAM passes through the relay to the database; the relay presents the database's own certificate.
        relay) echo "$HOOP_BENCH_PG_PASSWORD|host=localhost port=$RELAY dbname=bench user=app sslmode=verify-full sslrootcert=$work/ca.pem" ;;
        hoop) echo "$TOKEN|host=localhost port=$HOOPPG dbname=pgbench user=agent sslmode=verify-full sslrootcert=$work/hoop-root.pem" ;;
        hoop-masked) echo "$TOKEN|host=localhost port=$HOOPPG dbname=pgmasked user=agent sslmode=verify-full sslrootcert=$work/hoop-root.pem" ;;
    esac
}
curl -sk "https://localhost:$CONSOLE/certificate.pem" -o "$work/hoop-root.pem"

# pgb <name> <mode> [seconds]: one pgbench run, appends "name mode tps latency_ms" to the raw file.
pgb() {
    local spec password conn args out tps lat
    spec=$(target "$1"); password=${spec%%|*}; conn=${spec#*|}
    [ "$2" = select ] && args=(-S) || args=()
    out=$(PGPASSWORD="$password" "$bin/pgbench" -n "${args[@]}" -c "$CLIENTS" -j 2 -T "${3:-$DURATION}" "$conn" 2>&1) ||
        { echo "$out"; echo "bench: pgbench against $1 failed"; tail -20 "$work/hoop.log"; exit 1; }
    tps=$(awk -F'= ' '/^tps/ {split($2, a, " "); print a[1]}' <<<"$out" | head -1)
    lat=$(awk -F'= ' '/^latency average/ {split($2, a, " "); print a[1]}' <<<"$out")
    [ -n "${3:-}" ] && return 0
    echo "$1 $2 $tps $lat" >> "$work/raw"
    printf '  %-12s %-7s %10s tps  latency %7s ms\n' "$1" "$2" "$tps" "$lat"
}

echo "bench: warming up"
for name in direct pgbouncer relay hoop hoop-masked; do pgb "$name" select 5; done
for round in $(seq "$ROUNDS"); do
    echo "bench: round $round of $ROUNDS"
    for mode in select tpcb; do
        for name in direct pgbouncer relay hoop hoop-masked; do pgb "$name" $mode; done
    done
done

# CPU per transaction (CPU_PROFILE=1): Hoop's and PgBouncer's CPU time from /proc, PostgreSQL's from its postmaster
# (which reaps the backends of closed connections), pgbench's from `time`; steadier than TPS on a shared machine.
tree_ticks() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat"; }
cpu_per_txn() {
    local spec password conn out pm h0 p0 b0 r0 n cl
    spec=$(target "$1"); password=${spec%%|*}; conn=${spec#*|}
    pm=$(head -1 "$work/pg/data/postmaster.pid")
    h0=$(tree_ticks "$hoop_pid"); p0=$(tree_ticks "$pm"); b0=$(tree_ticks "$(cat "$work/pg/pgbouncer.pid")"); r0=$(tree_ticks "$relay_pid")
    out=$( { TIMEFORMAT='%U %S'; time PGPASSWORD="$password" "$bin/pgbench" -n -S -c "$CLIENTS" -j 2 -T "$DURATION" "$conn" 2>&1; } 2>&1 )
    n=$(awk '/number of transactions actually processed/ {split($0,a,": "); split(a[2],b,"/"); print b[1]}' <<<"$out")
    cl=$(tail -1 <<<"$out")
    settle "$hoop_pid" # Hoop's search indexing catches up after a run: charged to that run.
    awk -v name="$1" -v n="$n" -v h=$(($(tree_ticks "$hoop_pid") - h0)) -v p=$(($(tree_ticks "$pm") - p0)) -v b=$(($(tree_ticks "$(cat "$work/pg/pgbouncer.pid")") - b0)) \
        -v r=$(($(tree_ticks "$relay_pid") - r0)) -v hz="$ticks" -v cl="$cl" \
        'BEGIN { split(cl, c, " "); printf "| %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n", name, h/hz/n*1e6, b/hz/n*1e6, r/hz/n*1e6, p/hz/n*1e6, (c[1]+c[2])/n*1e6 }'
}
if [ "${CPU_PROFILE:-0}" = 1 ]; then
    echo; echo "CPU per -S transaction, microseconds (PostgreSQL's counted when PgBouncer closes its pooled connections, so 0 there)"
    echo "| path | Hoop | PgBouncer | bare relay | PostgreSQL | pgbench |"; echo "|---|---|---|---|---|---|"
    for name in direct pgbouncer relay hoop direct pgbouncer relay hoop; do cpu_per_txn "$name"; done
fi

# PERF_PROFILE=1: a -S run through each .NET proxy with perf sampling it; its samples grouped by part (bench/perf-parts.awk).
profile() { # profile <name> <pid>
    local spec password conn
    spec=$(target "$1"); password=${spec%%|*}; conn=${spec#*|}
    perf record -q -F 499 -p "$2" -o "$work/perf-$1.data" -- sleep "$DURATION" >/dev/null 2>&1 &
    local perf_pid=$!
    PGPASSWORD="$password" "$bin/pgbench" -n -S -c "$CLIENTS" -j 2 -T "$DURATION" "$conn" >/dev/null 2>&1
    wait $perf_pid
    echo; echo "Where $1's CPU goes under -S (perf samples of its process, self time)"
    echo "| part | share of samples |"; echo "|---|---|"
    perf report -q -i "$work/perf-$1.data" --no-children --sort dso,sym --stdio 2>/dev/null | awk -f bench/perf-parts.awk |
        sort -t$'\t' -k1,1nr | awk -F'\t' '$1 >= 0.5 {printf "| %s | %s%% |\n", $2, $1}'
}
if [ "${PERF_PROFILE:-0}" = 1 ]; then
    command -v perf >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; }
    profile relay "$relay_pid"
    profile hoop "$hoop_pid"
fi
[ "$ROUNDS" = 0 ] && exit 0

pmedian() {
    awk -v n="$1" -v m="$2" '$1==n && $2==m {print $3, $4}' "$work/raw" | sort -n |
        awk '{t[NR]=$1; l[NR]=$2} END {k=int((NR+1)/2); print t[k], l[k]}'
}
mkdir -p bench/results
result="bench/results/postgres-$(date -u +%Y%m%d-%H%M).md"
{
    echo "Postgres proxy, $(date -u +%Y-%m-%d), $(nproc) cores, pgbench -c $CLIENTS -j 2 -T $DURATION, scale $SCALE, TLS on every hop, median of $ROUNDS interleaved rounds"
    echo
    echo "| path | workload | TPS | latency avg ms | vs direct | vs PgBouncer |"
    echo "|---|---|---|---|---|---|"
    for mode in select tpcb; do
        read -r dt _ <<<"$(pmedian direct $mode)"
        read -r bt _ <<<"$(pmedian pgbouncer $mode)"
        for name in direct pgbouncer relay hoop hoop-masked; do
            read -r t l <<<"$(pmedian $name $mode)"
            label=$([ "$mode" = select ] && echo "-S (select only)" || echo "TPC-B-like")
            echo "| $name | $label | $t | $l | $(awk -v a="$t" -v b="$dt" 'BEGIN {printf "%.2fx", a/b}') | $(awk -v a="$t" -v b="$bt" 'BEGIN {printf "%.2fx", a/b}') |"
        done
    done
} > "$result"
echo
cat "$result"
echo "bench: written to $result"
