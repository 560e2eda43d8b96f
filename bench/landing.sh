#!/usr/bin/env bash
# The landing page under a crowd: the published app (Production settings) on its own local
# services, 20,000 entrants, loaded with wrk on 127.0.0.1. In one run it compares the cached landing
# page (/), the uncached count behind it (/api/v1/campaign: the same query, no cache), and a bare
# endpoint (/healthz) as this machine's ceiling.
#   bench/landing.sh [seconds per endpoint, default 10]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bin/lib/services.sh"
DURATION=${1:-10}
DIR=$ROOT/.local/bench PG_PORT=35432 REDIS_PORT=36379 S3_PORT=34568 WEB_PORT=35000
command -v wrk >/dev/null || as_root apt-get install -y -q wrk >/dev/null || die "wrk is needed: sudo apt-get install wrk"
install_missing
start_postgres "$DIR/postgres" "$PG_PORT"; recreate_database "$PG_PORT" bench
start_redis "$DIR/redis" "$REDIS_PORT"; start_s3 "$DIR/s3" "$S3_PORT"
publish "$DIR/publish/"
export ASPNETCORE_ENVIRONMENT=Production DYNO=web.1 RATE_LIMIT_PER_MINUTE=0 \
  DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/bench REDIS_URL=redis://127.0.0.1:$REDIS_PORT \
  APP_BASE_URL=https://campaign.example.test SENDGRID_API_KEY=SG.bench SENDGRID_API_URL=http://127.0.0.1:9 \
  MAIL_FROM=campaign@example.test S3_ENDPOINT=http://127.0.0.1:$S3_PORT S3_BUCKET=$S3_BUCKET_NAME \
  AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
"$DIR/publish/Campaign" db-apply >/dev/null 2>&1
"$DIR/publish/Campaign" --urls "http://127.0.0.1:$WEB_PORT" >/dev/null 2>&1 &
app=$!
trap 'kill $app 2>/dev/null; stop_s3 "$DIR/s3"; stop_redis "$REDIS_PORT"; stop_postgres "$DIR/postgres"' EXIT
until curl -fs "http://127.0.0.1:$WEB_PORT/healthz" >/dev/null; do sleep 0.1; done
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench -c \
  "insert into mt_doc_entrant (id, data, mt_last_modified, mt_version, mt_dotnet_type) select gen_random_uuid(), jsonb_build_object('email', 'bench' || i || '@example.jp'), now(), gen_random_uuid(), 'x' from generate_series(1, 20000) i" >/dev/null

h=(-H "X-Forwarded-Proto: https" -H "Accept-Language: ja")
run() { wrk -t2 -c32 -d"${DURATION}s" --latency "${h[@]}" "http://127.0.0.1:$WEB_PORT$1" | awk -v p="$1" '/Requests\/sec/ {rps=$2} /99%/ {p99=$2} END {printf "| %-18s | %10s | %8s |\n", p, rps, p99}'; }
say "Warming up (JIT) for 15 s"
wrk -t2 -c32 -d15s "${h[@]}" "http://127.0.0.1:$WEB_PORT/" >/dev/null
wrk -t2 -c32 -d5s "${h[@]}" "http://127.0.0.1:$WEB_PORT/api/v1/campaign" >/dev/null
echo "| path               | requests/s | p99      |"
echo "|--------------------|------------|----------|"
run /healthz
run /
run /api/v1/campaign
echo "peak RSS of the web process: $(awk '/VmHWM/ {printf "%d MiB", $2 / 1024}' /proc/$app/status)"
