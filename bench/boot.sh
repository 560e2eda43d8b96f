#!/usr/bin/env bash
# Boot: from starting the published web process to its first successful entry (202), not just
# /healthz, three times; Heroku allows 60 s before R10.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bin/lib/services.sh"
DIR=$ROOT/.local/bench PG_PORT=35432 REDIS_PORT=36379 S3_PORT=34568 WEB_PORT=35000
install_missing
start_postgres "$DIR/postgres" "$PG_PORT"; recreate_database "$PG_PORT" bench
start_redis "$DIR/redis" "$REDIS_PORT"; start_s3 "$DIR/s3" "$S3_PORT"
trap 'stop_s3 "$DIR/s3"; stop_redis "$REDIS_PORT"; stop_postgres "$DIR/postgres"' EXIT
publish "$DIR/publish/"
export ASPNETCORE_ENVIRONMENT=Production DYNO=web.1 RATE_LIMIT_PER_MINUTE=0 \
  DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/bench REDIS_URL=redis://127.0.0.1:$REDIS_PORT \
  APP_BASE_URL=https://campaign.example.test SENDGRID_API_KEY=SG.bench SENDGRID_API_URL=http://127.0.0.1:9 \
  MAIL_FROM=campaign@example.test S3_ENDPOINT=http://127.0.0.1:$S3_PORT S3_BUCKET=$S3_BUCKET_NAME \
  AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
"$DIR/publish/Campaign" db-apply >/dev/null 2>&1
for run in 1 2 3; do
  start=$(date +%s.%N)
  "$DIR/publish/Campaign" --urls "http://127.0.0.1:$WEB_PORT" >/dev/null 2>&1 &
  app=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$WEB_PORT/api/v1/entries" \
      -H 'X-Forwarded-Proto: https' -H 'Content-Type: application/json' \
      -d "{\"email\":\"boot$run-$RANDOM@example.test\",\"displayName\":\"boot\",\"consent\":true}")" = 202 ]; do
    sleep 0.02
  done
  printf "run %d: first entry accepted %.2f s after start\n" "$run" "$(echo "$(date +%s.%N) - $start" | bc)"
  kill -TERM $app; wait $app || true
done
