#!/usr/bin/env bash
# Boot: from starting the published web process to its first successful entry (202), not just
# /healthz, three times; Heroku allows 60 s before R10.
#   bench/boot.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
bench_start
times=()
for run in 1 2 3; do
  start=$(date +%s.%N)
  (cd "$DIR/publish" && exec ./Campaign --urls "http://127.0.0.1:$WEB_PORT") >"$DIR/web.log" 2>&1 &
  app=$!
  remember "$app"
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$WEB_PORT/api/v1/entries" \
      -H 'X-Forwarded-Proto: https' -H 'Content-Type: application/json' \
      -d "{\"email\":\"boot$run-$RANDOM@example.test\",\"displayName\":\"boot\",\"consent\":true}")" = 202 ]; do
    running "$app" || { tail -n 20 "$DIR/web.log" >&2; die "the web process exited"; }
    sleep 0.02
  done
  times+=("$(echo "$(date +%s.%N) - $start" | bc)")
  say "run $run: first entry accepted $(printf '%.2f' "${times[-1]}") s after start"
  stop_pid "$app"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
echo
echo "Boot — $(machine_facts)"
echo
echo "| run 1 | run 2 | run 3 | median | goal |"
echo "|---|---|---|---|---|"
printf '| %.2f s | %.2f s | %.2f s | %.2f s | < 2 s: %s |\n' "${times[@]}" "$median" \
  "$([ "$(echo "$median < 2" | bc)" = 1 ] && echo met || echo MISSED)"
