#!/usr/bin/env bash
# Recording benchmark: events per second through the batched, chained, chunked writer (bench/RecorderBench: the
# product's recorder in its own host, 1 KB events), the time to read the first page of the 100,000-event session,
# to open its replay (timeline and first page) and seek to its middle, and for the search index to catch up, the
# index's lag after a burst at a steady rate (the indexer under its CPU budget meanwhile) and its catch-up; then
# each step of an event's recording alone (bench/RecorderBench/Breakdown.cs) with bytes on disk per event.
#   bench/recording.sh       Environment: EVENTS (default 100000), BURST_SECONDS (default 60, 0 skips the burst),
#                            BURST_RATE (events per second, default 12000)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/hoop-recording.XXXXXX)
trap 'rm -rf "$work"' EXIT
dotnet run -c Release --project bench/RecorderBench -v q -- "$work" "${EVENTS:-100000}" 2>/dev/null | grep '^recorder-'
