#!/usr/bin/env bash
# Memory: the peak RSS (VmHWM) of one web process through a crowd of entries (64 connections) and
# then of landing-page views (32 connections), with the GC settings the project publishes
# (Campaign/Campaign.csproj). Heroku's standard-1x dyno has 512 MB; the goal is 256 MiB at most.
#   bench/memory.sh [seconds per load, default 30]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
SECONDS_EACH=${1:-30}
bench_start
start_web
after_boot=$(awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$WEB_PID/status")
say "Entries for $SECONDS_EACH s, then the landing page for $SECONDS_EACH s"
RUN=memory wrk -t2 -c64 -d"${SECONDS_EACH}s" -s "$ROOT/bench/entry.lua" "http://127.0.0.1:$WEB_PORT/api/v1/entries" >/dev/null
after_entries=$(peak_rss_mib "$WEB_PID")
wrk -t2 -c32 -d"${SECONDS_EACH}s" -H "X-Forwarded-Proto: https" "http://127.0.0.1:$WEB_PORT/" >/dev/null
peak=$(peak_rss_mib "$WEB_PID")
echo
echo "Memory of the web process — $(machine_facts)"
echo
echo "| after boot | peak through entries | peak through entries + landing page | goal |"
echo "|---|---|---|---|"
echo "| $after_boot MiB | $after_entries MiB | $peak MiB | <= 256 MiB: $([ "$peak" -le 256 ] && echo met || echo MISSED) |"
stop_pid "$WEB_PID"
