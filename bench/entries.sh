#!/usr/bin/env bash
# Entry throughput: POST /api/v1/entries, each request a new address, 64 connections, on the
# published app (Production settings, rate limit off, DB_POOL_SIZE=5) against local PostgreSQL,
# Redis and the SendGrid stand-in. In the same run, this machine's limit: bench/baseline, a bare
# Kestrel endpoint doing one raw INSERT (uuid + jsonb) per request, once on a pool of 5 (the app's)
# and once on a pool of 100 (the one that serves it best: bound by the cores, not by commits).
# Three rounds, each measuring every row for SECONDS, in an order that turns each round; the
# medians are reported, with the goals of issue 20.
#   bench/entries.sh [seconds, default 10]
#   BEFORE=<git rev> bench/entries.sh [seconds]   also measures that revision, published from
#                                                 `git archive` into .local/bench/before, as a row
#                                                 of the same rounds (its own port and database)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
SECONDS_EACH=${1:-10}
BEFORE=${BEFORE:-}
if [ -n "$BEFORE" ]; then
  before_rev=$(git -C "$ROOT" rev-parse --short --verify "$BEFORE^{commit}") || die "BEFORE=$BEFORE is not a commit"
fi
bench_start

say "Publishing the raw-INSERT baseline (bench/baseline, Release)"
dotnet publish "$ROOT/bench/baseline/Baseline.csproj" -c Release --nologo -v q -o "$DIR/baseline" >/dev/null \
  || die "dotnet publish bench/baseline failed"
# start_baseline PORT POOL: one baseline process, which creates its table if missing; sets BASELINE_PID.
start_baseline() {
  DATABASE="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=bench;Maximum Pool Size=$2;Minimum Pool Size=0" \
    "$DIR/baseline/Baseline" --urls "http://127.0.0.1:$1" >"$DIR/baseline-$2.log" 2>&1 &
  BASELINE_PID=$!
  remember "$BASELINE_PID"
  wait_http "http://127.0.0.1:$1/" || die "the baseline (pool $2) did not start"
}
# One after the other: the first has made the table when the second starts.
start_baseline "$BASELINE_PORT" 5
raw5=$BASELINE_PID
start_baseline "$BASELINE100_PORT" 100
raw100=$BASELINE_PID

# The app at the pool size it ships with (Heroku Postgres plans allow few connections per dyno).
export DB_POOL_SIZE=5
start_web
app=$WEB_PID
watch_stalls "$app" web
if [ -n "$BEFORE" ]; then
  say "Publishing $BEFORE ($before_rev) from git archive into .local/bench/before (Release, as the buildpack does)"
  rm -rf "$DIR/before-src"
  mkdir -p "$DIR/before-src"
  git -C "$ROOT" archive "$before_rev" | tar -x -C "$DIR/before-src"
  # The front-end assets are built by npm into the checkout (install_missing), not kept in git.
  if [ -d "$ROOT/Campaign/wwwroot/lib" ]; then
    mkdir -p "$DIR/before-src/Campaign/wwwroot"
    cp -r "$ROOT/Campaign/wwwroot/lib" "$DIR/before-src/Campaign/wwwroot/"
  fi
  ROOT=$DIR/before-src publish "$DIR/before/"
  # A database and a Redis database of its own: the two revisions' schemas and keys may differ.
  recreate_database "$PG_PORT" bench_before
  before_url=postgres://postgres@127.0.0.1:$PG_PORT/bench_before
  (cd "$DIR/before" && DATABASE_URL=$before_url ./Campaign db-apply) >"$DIR/before-db-apply.log" 2>&1 \
    || { tail -n 20 "$DIR/before-db-apply.log" >&2; die "db-apply of $before_rev failed"; }
  DATABASE_URL=$before_url REDIS_URL=redis://127.0.0.1:$REDIS_PORT/1 DYNO=web.2 start_web "$BEFORE_PORT" before "$DIR/before"
  before=$WEB_PID
  watch_stalls "$before" before bench_before
fi

# What each row loads: NAME PID URL DATABASE (the database only for the app's rows).
rows=("raw5 $raw5 http://127.0.0.1:$BASELINE_PORT/entries -"
  "raw100 $raw100 http://127.0.0.1:$BASELINE100_PORT/entries -"
  "entries $app http://127.0.0.1:$WEB_PORT/api/v1/entries bench")
[ -n "$BEFORE" ] && rows+=("before $before http://127.0.0.1:$BEFORE_PORT/api/v1/entries bench_before")

# Addresses are unique per RUN and row: the two baselines share one table and its unique index.
say "Warming up (JIT): 10 s for each baseline, 20 s for each app"
for row in "${rows[@]}"; do
  read -r name _ url _ <<<"$row"
  case $name in raw*) warm=10 ;; *) warm=20 ;; esac
  RUN=warm-$name wrk -t2 -c64 -d${warm}s -s "$ROOT/bench/entry.lua" "$url" >/dev/null
done

query() { psql -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1" -c "$2"; }
pending() { query "$1" "select count(*) from mt_doc_outboxmessage where status = 'Pending'"; }
entrants() { query "$1" "select count(*) from mt_doc_entrant"; }
# Every app's mail has left (or 60 s have passed).
drain() {
  local row name database
  for _ in $(seq "$1"); do
    local left=0
    for row in "${rows[@]}"; do
      read -r name _ _ database <<<"$row"
      [ "$database" = - ] || [ "$(pending "$database")" = 0 ] || left=1
    done
    [ $left = 0 ] && return 0
    sleep "$2"
  done
}
# The mail of the warm-up leaves first: the count below is of the measured entries and their mail.
drain 120 0.5
declare -A entrants_before cpu_before
for row in "${rows[@]}"; do
  read -r name pid _ database <<<"$row"
  [ "$database" = - ] && continue
  entrants_before[$name]=$(entrants "$database") cpu_before[$name]=$(cpu_ticks "$pid")
done

results=$(mktemp)
for round in 1 2 3; do
  say "Round $round of 3: $SECONDS_EACH s each"
  # Each round starts one row later, so that no row always follows the same one.
  for ((i = 0; i < ${#rows[@]}; i++)); do
    read -r name pid url _ <<<"${rows[(i + round - 1) % ${#rows[@]}]}"
    RUN=r$round-$name load "$name" "$pid" "$url" "$SECONDS_EACH" 64 -s "$ROOT/bench/entry.lua" | tee -a "$results" >&2
  done
done
# Each entry's mail is part of its cost: the web process sends it after answering, so some of that
# work falls after a round's end. Wait until every mail is sent, then count the web CPU of it all.
measured_end=$(date +%s.%N)
drain 600 0.1
mail_lag=$(echo "$(date +%s.%N) - $measured_end" | bc)
declare -A with_mail counted
for row in "${rows[@]}"; do
  read -r name pid _ database <<<"$row"
  [ "$database" = - ] && continue
  counted[$name]=$(($(entrants "$database") - ${entrants_before[$name]}))
  with_mail[$name]=$(( ($(cpu_ticks "$pid") - ${cpu_before[$name]}) * 1000000 / HZ / ${counted[$name]} ))
done

summary=$(summarize <"$results")
column() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' <<<"$summary"; }
# ratio A B: A / B to two decimals.
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
verdict() { [ "$(echo "$1" | bc)" = 1 ] && echo met || echo MISSED; }

echo
echo "Entry throughput — $(machine_facts)"
echo "64 connections, $SECONDS_EACH s per measurement after a warm-up, median of 3 rounds; the app at DB_POOL_SIZE=5"
echo
echo "| endpoint | requests/s | p99 | web CPU/request | web CPU per entry, mail included | PostgreSQL CPU/request | errors |"
echo "|---|---|---|---|---|---|---|"
while read -r name rps p99 cpu pg bad; do
  case $name in
    raw5) label='baseline: Kestrel + one raw INSERT, pool 5' ;;
    raw100) label='baseline: Kestrel + one raw INSERT, pool 100' ;;
    entries) label='`POST /api/v1/entries`' ;;
    before) label="\`POST /api/v1/entries\` before ($before_rev)" ;;
  esac
  printf '| %s | %s | %s ms | %s µs | %s | %s µs | %s |\n' "$label" "$rps" "$p99" "$cpu" \
    "${with_mail[$name]:+${with_mail[$name]} µs}" "$pg" "$bad"
done <<<"$summary"

# The goals of issue 20. The CPU goals compare with the pool-100 baseline, the one bound by the
# cores: the entry's CPU beside it decides how far the cores carry entries.
echo
echo "Goals (issue 20); CPU against the raw INSERT at pool 100:"
echo
echo "| | entries/s ÷ raw INSERT, pool 5 | entries/s ÷ raw INSERT, pool 100 | p99 | PostgreSQL CPU per entry ÷ raw INSERT's | web CPU per entry, mail included ÷ baseline's |"
echo "|---|---|---|---|---|---|"
echo "| goal | ≥ 1.0× | ≥ 0.8× | < 100 ms | ≤ 0.5× | ≤ 1.5× |"
for name in entries before; do
  [ -n "$(column "$name" 2)" ] || continue
  by5=$(ratio "$(column "$name" 2)" "$(column raw5 2)")
  by100=$(ratio "$(column "$name" 2)" "$(column raw100 2)")
  p99=$(column "$name" 3)
  pg=$(ratio "$(column "$name" 5)" "$(column raw100 5)")
  web=$(ratio "${with_mail[$name]}" "$(column raw100 4)")
  printf '| %s | %s× %s | %s× %s | %s ms %s | %s× %s | %s× %s |\n' \
    "$([ "$name" = entries ] && echo '`POST /api/v1/entries`' || echo "before ($before_rev)")" \
    "$by5" "$(verdict "$by5 >= 1.0")" "$by100" "$(verdict "$by100 >= 0.8")" \
    "$p99" "$(verdict "$p99 < 100")" "$pg" "$(verdict "$pg <= 0.5")" "$web" "$(verdict "$web <= 1.5")"
done
echo
for name in entries before; do
  [ -n "${counted[$name]:-}" ] || continue
  echo "$name: ${counted[$name]} entries in the three rounds, web CPU counted until their last mail had left"
done
echo "the last mail left $(printf '%.1f' "$mail_lag") s after the last round; mails received by the SendGrid stand-in: $(curl -s "http://127.0.0.1:$STUB_PORT/")"
echo "peak RSS of the web process: $(peak_rss_mib "$app") MiB${BEFORE:+; before: $(peak_rss_mib "${before:-}") MiB}"
stall_report web
[ -z "$BEFORE" ] || stall_report before
rm -f "$results"
