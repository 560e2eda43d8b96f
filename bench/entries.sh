#!/usr/bin/env bash
# Entry throughput: POST /api/v1/entries, each request a new address, 64 connections, on the
# published app (Production settings, rate limit off) against local PostgreSQL, Redis and the
# SendGrid stand-in. In the same run, this machine's limit: bench/baseline, a bare Kestrel endpoint
# doing one raw INSERT (uuid + jsonb) per request on a pool of the same size. Three rounds, each
# measuring both for SECONDS; the medians are reported.
#   bench/entries.sh [seconds, default 10]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
SECONDS_EACH=${1:-10}
bench_start

say "Publishing the raw-INSERT baseline (bench/baseline, Release)"
dotnet publish "$ROOT/bench/baseline/Baseline.csproj" -c Release --nologo -v q -o "$DIR/baseline" >/dev/null \
  || die "dotnet publish bench/baseline failed"
# The same pool size as the app's default DB_POOL_SIZE.
DATABASE="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=bench;Maximum Pool Size=5;Minimum Pool Size=0" \
  "$DIR/baseline/Baseline" --urls "http://127.0.0.1:$BASELINE_PORT" >"$DIR/baseline.log" 2>&1 &
baseline=$!
remember "$baseline"
wait_http "http://127.0.0.1:$BASELINE_PORT/" || die "the baseline did not start"
start_web
watch_stalls "$WEB_PID"

entries=http://127.0.0.1:$WEB_PORT/api/v1/entries
raw=http://127.0.0.1:$BASELINE_PORT/entries
say "Warming up both (JIT) for 20 s each"
RUN=warm wrk -t2 -c64 -d20s -s "$ROOT/bench/entry.lua" "$entries" >/dev/null
RUN=warm wrk -t2 -c64 -d20s -s "$ROOT/bench/entry.lua" "$raw" >/dev/null

query() { psql -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres bench -c "$1"; }
pending() { query "select count(*) from mt_doc_outboxmessage where status = 'Pending'"; }
# The mail of the warm-up leaves first: the count below is of the measured entries and their mail.
for _ in $(seq 120); do [ "$(pending)" = 0 ] && break; sleep 0.5; done
entrants_before=$(query "select count(*) from mt_doc_entrant") web_before=$(cpu_ticks "$WEB_PID")

results=$(mktemp)
for round in 1 2 3; do
  say "Round $round of 3: $SECONDS_EACH s each"
  RUN=r$round load raw-insert "$baseline" "$raw" "$SECONDS_EACH" 64 -s "$ROOT/bench/entry.lua" | tee -a "$results" >&2
  RUN=r$round load entries "$WEB_PID" "$entries" "$SECONDS_EACH" 64 -s "$ROOT/bench/entry.lua" | tee -a "$results" >&2
done
# Each entry's mail is part of its cost: the web process sends it after answering, so some of that
# work falls after a round's end. Wait until every mail is sent, then count the web CPU of it all.
measured_end=$(date +%s.%N)
for _ in $(seq 600); do [ "$(pending)" = 0 ] && break; sleep 0.1; done
mail_lag=$(echo "$(date +%s.%N) - $measured_end" | bc)
entrants=$(( $(query "select count(*) from mt_doc_entrant") - entrants_before ))
web_per_entry=$(( ($(cpu_ticks "$WEB_PID") - web_before) * 1000000 / HZ / entrants ))

echo
echo "Entry throughput — $(machine_facts)"
echo "64 connections, $SECONDS_EACH s per measurement after a 20 s warm-up, median of 3 rounds"
echo
echo "| endpoint | requests/s | p99 | web CPU/request | PostgreSQL CPU/request | errors |"
echo "|---|---|---|---|---|---|"
summarize <"$results" | while read -r name rps p99 cpu pg bad; do
  case $name in
    raw-insert) label='baseline: Kestrel + one raw INSERT' ;;
    entries) label='`POST /api/v1/entries`' ;;
  esac
  printf '| %s | %s | %s ms | %s µs | %s µs | %s |\n' "$label" "$rps" "$p99" "$cpu" "$pg" "$bad"
done
read -r raw_rps < <(summarize <"$results" | awk '$1 == "raw-insert" {print $2}')
read -r app_rps app_p99 < <(summarize <"$results" | awk '$1 == "entries" {print $2, $3}')
ratio=$(echo "scale=2; $app_rps / $raw_rps" | bc)
met=$(echo "$ratio >= 0.5 && $app_p99 < 100" | bc)
echo
echo "entries / raw INSERT: ${ratio}x, p99 ${app_p99} ms (goal: >= 0.5x with p99 under 100 ms): $([ "$met" = 1 ] && echo met || echo MISSED)"
echo "web CPU per entry, its mail included: $web_per_entry µs ($entrants entries of the three rounds; the last mail left $(printf '%.1f' "$mail_lag") s after the last round)"
echo "mails received by the SendGrid stand-in: $(curl -s "http://127.0.0.1:$STUB_PORT/")"
echo "peak RSS of the web process: $(peak_rss_mib "$WEB_PID") MiB"
stall_report
rm -f "$results"
