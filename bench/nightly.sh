#!/usr/bin/env bash
# The nightly batch at scale: N synthetic entrants (default 100,000) who all qualify for a
# reminder; times `nightly-mail` (writing the reminders into the outbox) and `outbox-drain`
# (sending them to a local SendGrid stand-in, up to 1000 recipients per request), with the peak
# memory (max RSS) of each process.
#   bench/nightly.sh [entrants]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bin/lib/services.sh"
COUNT=${1:-100000}
DIR=$ROOT/.local/bench PG_PORT=35432 REDIS_PORT=36379 S3_PORT=34568 STUB_PORT=35025
command -v /usr/bin/time >/dev/null || as_root apt-get install -y -q time >/dev/null || die "GNU time is needed: sudo apt-get install time"
install_missing
start_postgres "$DIR/postgres" "$PG_PORT"; recreate_database "$PG_PORT" bench
start_redis "$DIR/redis" "$REDIS_PORT"; start_s3 "$DIR/s3" "$S3_PORT"
python3 "$ROOT/bench/stub_sendgrid.py" "$STUB_PORT" & stub=$!
trap 'kill $stub 2>/dev/null; stop_s3 "$DIR/s3"; stop_redis "$REDIS_PORT"; stop_postgres "$DIR/postgres"' EXIT
publish "$DIR/publish/"
export ASPNETCORE_ENVIRONMENT=Production DYNO=run.1 ALLOW_SEED=true \
  DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/bench REDIS_URL=redis://127.0.0.1:$REDIS_PORT \
  APP_BASE_URL=https://campaign.example.test SENDGRID_API_KEY=SG.bench SENDGRID_API_URL=http://127.0.0.1:$STUB_PORT \
  MAIL_FROM=campaign@example.test S3_ENDPOINT=http://127.0.0.1:$S3_PORT S3_BUCKET=$S3_BUCKET_NAME \
  AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
app=$DIR/publish/Campaign
"$app" db-apply >/dev/null 2>&1
say "Seeding $COUNT entrants"
"$app" seed-entrants --count "$COUNT" >/dev/null 2>&1

measure() { # measure LABEL COMMAND...: wall seconds and max RSS of one process
  local label=$1 out; shift; out=$(mktemp)
  /usr/bin/time -f "%e %M" -o "$out" "$@" >/dev/null 2>&1 || { cat "$out" >&2; die "$label failed"; }
  read -r seconds kib < <(tail -n 1 "$out"); rm -f "$out"
  printf "| %-36s | %8s s | %6d MiB |\n" "$label" "$seconds" "$((kib / 1024))"
}
echo "| step ($COUNT entrants)               | time       | peak RSS   |"
echo "|--------------------------------------|------------|------------|"
measure "nightly-mail (write reminders)" "$app" nightly-mail --date 2026-12-01
# The sweep leaves messages younger than a minute to the web's fast path: age them for the drain.
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench -c "update mt_doc_outboxmessage set created_at = created_at - interval '2 minutes'" >/dev/null
measure "outbox-drain (send, 1000 per request)" "$app" outbox-drain
echo "recipients received by the stub: $(curl -s "http://127.0.0.1:$STUB_PORT/")"
