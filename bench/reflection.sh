#!/usr/bin/env bash
# What scrubbing the stored secret from backend answers costs: bench/ScrubBench, µs per 1 KB and per 1 MB
# response, with the secret absent and present, whole and streamed.
#   bench/reflection.sh [seconds per measurement, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run -c Release --project bench/ScrubBench -v q -- "${1:-3}" 2>/dev/null | grep -E '^(reflection-bench|\|)'
