#!/usr/bin/env bash
# The landing page under a crowd: the published app (Production settings), 20,000 entrants, loaded
# with wrk on 127.0.0.1. In one run it compares the cached landing page (/), the uncached count
# behind it (/api/v1/campaign: the same query, no cache), and a bare Kestrel endpoint (/healthz) as
# this machine's ceiling. Three rounds; the medians are reported.
#   bench/landing.sh [seconds per endpoint, default 10]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
SECONDS_EACH=${1:-10}
bench_start
start_web
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench -c \
  "insert into mt_doc_entrant (id, data, mt_last_modified, mt_version, mt_dotnet_type) select gen_random_uuid(), jsonb_build_object('email', 'landing' || i || '@example.jp'), now(), gen_random_uuid(), 'x' from generate_series(1, 20000) i" >/dev/null

h=(-H "X-Forwarded-Proto: https" -H "Accept-Language: ja")
base=http://127.0.0.1:$WEB_PORT
say "Warming up (JIT) for 20 s"
wrk -t2 -c32 -d15s "${h[@]}" "$base/" >/dev/null
wrk -t2 -c32 -d5s "${h[@]}" "$base/api/v1/campaign" >/dev/null
results=$(mktemp)
for round in 1 2 3; do
  say "Round $round of 3: $SECONDS_EACH s each"
  for path in /healthz / /api/v1/campaign; do
    load "$path" "$WEB_PID" "$base$path" "$SECONDS_EACH" 32 "${h[@]}" | tee -a "$results" >&2
  done
done

echo
echo "Landing page — $(machine_facts)"
echo "32 connections, $SECONDS_EACH s per measurement after a 20 s warm-up, median of 3 rounds"
echo
echo "| path | requests/s | p99 | web CPU/request | PostgreSQL CPU/request | errors |"
echo "|---|---|---|---|---|---|"
summarize <"$results" | while read -r name rps p99 cpu pg bad; do
  printf '| `%s` | %s | %s ms | %s µs | %s µs | %s |\n' "$name" "$rps" "$p99" "$cpu" "$pg" "$bad"
done
read -r ceiling < <(summarize <"$results" | awk '$1 == "/healthz" {print $2}')
read -r landing < <(summarize <"$results" | awk '$1 == "/" {print $2}')
ratio=$(echo "scale=2; $landing / $ceiling" | bc)
echo
echo "/ vs /healthz: ${ratio}x (goal: >= 0.5x): $([ "$(echo "$ratio >= 0.5" | bc)" = 1 ] && echo met || echo MISSED)"
echo "peak RSS of the web process: $(peak_rss_mib "$WEB_PID") MiB"
stop_pid "$WEB_PID"
rm -f "$results"
