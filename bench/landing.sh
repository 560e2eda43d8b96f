#!/usr/bin/env bash
# The landing page under a crowd: the published app (Production settings), 20,000 entrants, loaded
# with wrk on 127.0.0.1. In one run it compares the cached landing page (/), the count behind it
# as JSON without the page's copy (/api/v1/campaign), and this machine's ceiling for the page:
# bench/static, a bare Kestrel process answering with the same bytes and headers (the page and its
# response headers as the app sent them, saved with curl). Three rounds; the medians are reported.
#   bench/landing.sh [seconds per endpoint, default 10]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
SECONDS_EACH=${1:-10}
bench_start
say "Publishing the bare Kestrel process (bench/static, Release)"
dotnet publish "$ROOT/bench/static/Static.csproj" -c Release --nologo -v q -o "$DIR/static" >/dev/null \
  || die "dotnet publish bench/static failed"
start_web
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench -c \
  "insert into mt_doc_entrant (id, data, mt_last_modified, mt_version, mt_dotnet_type) select gen_random_uuid(), jsonb_build_object('email', 'landing' || i || '@example.jp'), now(), gen_random_uuid(), 'x' from generate_series(1, 20000) i" >/dev/null

h=(-H "X-Forwarded-Proto: https" -H "Accept-Language: ja")
base=http://127.0.0.1:$WEB_PORT
# The page as a visitor gets it from the cache (the second request: the first one fills it).
curl -fs -o /dev/null "${h[@]}" "$base/"
curl -fs -D "$DIR/landing.headers" -o "$DIR/landing.body" "${h[@]}" "$base/" || die "the landing page did not answer"
BODY=$DIR/landing.body HEADERS=$DIR/landing.headers "$DIR/static/Static" --urls "http://127.0.0.1:$STATIC_PORT" \
  >"$DIR/static.log" 2>&1 &
bare=$!
remember "$bare"
wait_http "http://127.0.0.1:$STATIC_PORT/" || die "bench/static did not start"
# The same bytes and headers, Date aside (each response has its own).
curl -fs -D "$DIR/static.headers" -o "$DIR/static.body" "${h[@]}" "http://127.0.0.1:$STATIC_PORT/"
headers() { grep -iv '^date:' "$1" | tr -d '\r' | sed '/^$/d' | sort -f; }
if cmp -s "$DIR/landing.body" "$DIR/static.body" && diff <(headers "$DIR/landing.headers") <(headers "$DIR/static.headers") >/dev/null; then
  same="the same $(wc -c <"$DIR/landing.body") bytes and $(($(headers "$DIR/landing.headers" | wc -l) - 1)) headers as the page"
else
  same="NOT the same bytes or headers as the page: compare $DIR/landing.headers and $DIR/static.headers"
fi

say "Warming up (JIT) for 20 s"
wrk -t2 -c32 -d15s "${h[@]}" "$base/" >/dev/null
wrk -t2 -c32 -d5s "${h[@]}" "$base/api/v1/campaign" >/dev/null
wrk -t2 -c32 -d5s "${h[@]}" "http://127.0.0.1:$STATIC_PORT/" >/dev/null
results=$(mktemp)
for round in 1 2 3; do
  say "Round $round of 3: $SECONDS_EACH s each"
  load bare "$bare" "http://127.0.0.1:$STATIC_PORT/" "$SECONDS_EACH" 32 "${h[@]}" | tee -a "$results" >&2
  for path in / /api/v1/campaign; do
    load "$path" "$WEB_PID" "$base$path" "$SECONDS_EACH" 32 "${h[@]}" | tee -a "$results" >&2
  done
done

echo
echo "Landing page — $(machine_facts)"
echo "32 connections, $SECONDS_EACH s per measurement after a warm-up, median of 3 rounds"
echo
echo "| path | requests/s | p99 | web CPU/request | PostgreSQL CPU/request | errors |"
echo "|---|---|---|---|---|---|"
summarize <"$results" | while read -r name rps p99 cpu pg bad; do
  case $name in
    bare) label='bare Kestrel, the same bytes and headers (`bench/static`)' ;;
    *) label="\`$name\`" ;;
  esac
  printf '| %s | %s | %s ms | %s µs | %s µs | %s |\n' "$label" "$rps" "$p99" "$cpu" "$pg" "$bad"
done
read -r ceiling < <(summarize <"$results" | awk '$1 == "bare" {print $2}')
read -r landing < <(summarize <"$results" | awk '$1 == "/" {print $2}')
ratio=$(echo "scale=2; $landing / $ceiling" | bc | sed 's/^\./0./')
echo
echo "/ vs bare Kestrel with the same bytes: ${ratio}x (goal: >= 0.5x): $([ "$(echo "$ratio >= 0.5" | bc)" = 1 ] && echo met || echo MISSED)"
echo "bench/static answered $same"
echo "peak RSS of the web process: $(peak_rss_mib "$WEB_PID") MiB"
stop_pid "$WEB_PID"
rm -f "$results"
