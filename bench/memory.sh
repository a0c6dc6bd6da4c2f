#!/usr/bin/env bash
# Resident memory of Hoop (bench/HoopBench, every exchange recorded) beside bare YARP, each measured alone in turn:
# fresh and idle, the peak under load (wrk -c64, 1 KB over TLS), the peak with 1,000 keep-alive connections, and a
# minute after the load stopped.
#   bench/memory.sh          (needs ./test.sh to have run once, for tools/oidc)
# Environment: LOAD (s of each load, default 30), AFTER (s to wait after load, default 60), TARGETS (default "yarp hoop").
source "$(dirname "$0")/common.sh"
LOAD=${LOAD:-30}
AFTER=${AFTER:-60}

echo "bench: publishing Release (BareYarp)"
dotnet publish bench/BareYarp -c Release -o "$work/yarp-bin" -v q -nologo >/dev/null
"$work/yarp-bin/BareYarp" $YARP "https://localhost:$BACKEND/" "$work/ca.pem" "$work/server.pfx" >"$work/yarp.log" 2>&1 &
yarp_pid=$!
pids+=($yarp_pid)
for _ in $(seq 50); do curl -sk -o /dev/null "https://127.0.0.1:$YARP/1k" && break; sleep 0.2; done

rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }

# peak <pid> <connections> <url>: the highest resident memory while wrk loads the url.
peak() {
    wrk -t2 -c"$2" -d"${LOAD}s" -H "Authorization: Bearer $TOKEN" "$3" >"$work/wrk-$2" &
    local w=$! top
    top=$(rss "$1")
    while kill -0 $w 2>/dev/null; do r=$(rss "$1"); [ "$r" -gt "$top" ] && top=$r; sleep 0.5; done
    echo "$top"
}

TOKEN=$(token)
result="bench/results/memory-$(date -u +%Y%m%d-%H%M).md"
mkdir -p bench/results
{
    echo "Resident memory (MB), $(date -u +%Y-%m-%d), $(nproc) cores, 1 KB over TLS, ${LOAD} s per load, measured ${AFTER} s after it"
    echo
    echo "| process | fresh, idle | peak, 64 connections | peak, 1,000 connections | ${AFTER} s after load |"
    echo "|---|---|---|---|---|"
} >"$result"
for target in ${TARGETS:-yarp hoop}; do
    if [ $target = yarp ]; then pid=$yarp_pid url="https://127.0.0.1:$YARP/1k"; else pid=$hoop_pid url="https://127.0.0.1:$HOOP/bench/1k"; fi
    echo "bench: $target"
    idle=$(rss $pid)
    busy=$(peak $pid 64 "$url")
    many=$(peak $pid 1000 "$url")
    sleep "$AFTER"
    after=$(rss $pid)
    echo "| $target | $idle | $busy | $many | $after |" >>"$result"
done
echo
cat "$result"
echo "bench: written to $result"
