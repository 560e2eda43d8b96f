#!/usr/bin/env bash
# The operators' dashboard at scale: N entrants (default 1,000,000) and a whole campaign of hourly
# numbers (90 days of every metric), then GET /ops/charts as a signed-in operator: uncached (the
# shared view deleted from Redis before each request, so that the dyno queries PostgreSQL) and cached
# (wrk for 10 s), with the web process's peak memory before and after.
#   bench/ops.sh [entrants]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
COUNT=${1:-1000000}
bench_start
say "Seeding $COUNT entrants and 90 days of hourly numbers"
(cd "$DIR/publish" && DYNO=run.1 ALLOW_SEED=true ./Campaign seed-entrants --count "$COUNT") >/dev/null 2>&1 \
  || die "seed-entrants failed"
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench -c "
  insert into ops_hourly (hour, metric, value)
  select date_trunc('hour', now()) - make_interval(hours => h), m, (random() * 1000)::bigint
  from generate_series(0, 90 * 24 - 1) h,
       unnest(array['campaign.entries', 'campaign.confirmations', 'campaign.photos_attached',
                    'campaign.mails_sent', 'campaign.mails_failed', 'campaign.mails_dropped',
                    'campaign.rate_limited', 'campaign.mail_budget_spent', 'campaign.mailbox_capped',
                    'campaign.entries_invalid', 'campaign.landing_views', 'campaign.landing_visitors']) m" \
  >/dev/null

OPERATOR=ops@bench.test
export OPERATOR_EMAILS=$OPERATOR
start_web
url=http://127.0.0.1:$WEB_PORT
https=(-H "X-Forwarded-Proto: https")
# Signing in as the operator does: the link form on /me, the mail, the token.
page=$(mktemp)
antiforgery=$(curl -s "${https[@]}" -D - -o "$page" "$url/me" | awk -F'[ ;]' 'tolower($1) == "set-cookie:" {print $2}' | tr -d '\r')
form=$(grep -o 'name="__RequestVerificationToken" value="[^"]*"' "$page" | sed 's/.*value="//; s/"$//')
rm -f "$page"
curl -s -o /dev/null "${https[@]}" -H "Cookie: $antiforgery" --data-urlencode "Email=$OPERATOR" \
  --data-urlencode "__RequestVerificationToken=$form" "$url/sign-in/link"
token=""
for _ in $(seq 100); do
  token=$(curl -s "http://127.0.0.1:$STUB_PORT/mail?to=$OPERATOR" | { grep -o '#token=[A-Za-z0-9_-]*' || true; } | head -n 1 | cut -c8-)
  [ -n "$token" ] && break
  sleep 0.1
done
[ -n "$token" ] || die "no sign-in link for the operator"
session=$(curl -s "${https[@]}" -D - -o /dev/null -H 'Content-Type: application/json' -d "{\"token\":\"$token\"}" \
  "$url/api/v1/session" | awk -F'[ ;]' 'tolower($1) == "set-cookie:" {print $2}' | tr -d '\r')
status=$(curl -s -o /dev/null -w '%{http_code}' "${https[@]}" -H "Cookie: $session" "$url/ops/charts")
[ "$status" = 200 ] || die "the operator got $status from /ops/charts"

rss_before=$(peak_rss_mib "$WEB_PID")
# Uncached: each request computes the view (its queries on PostgreSQL) after the shared copy is gone.
uncached=$(for _ in $(seq 21); do
  redis_cli -p "$REDIS_PORT" del ops:dashboard >/dev/null
  curl -s -o /dev/null -w '%{time_total}\n' "${https[@]}" -H "Cookie: $session" "$url/ops/charts"
done | tail -n 20 | sort -n | awk '{v[NR] = $1 * 1000} END {printf "%.1f %.1f", v[10], v[19]}')
# Cached: the view shared in Redis, as every dyno reads it for 30 s: one request at a time, then
# 16 connections at once.
curl -s -o /dev/null "${https[@]}" -H "Cookie: $session" "$url/ops/charts"
alone=$(for _ in $(seq 21); do
  curl -s -o /dev/null -w '%{time_total}\n' "${https[@]}" -H "Cookie: $session" "$url/ops/charts"
done | tail -n 20 | sort -n | awk '{v[NR] = $1 * 1000} END {printf "%.1f %.1f", v[10], v[19]}')
cached=$(load ops "$WEB_PID" "$url/ops/charts" 10 16 -H "X-Forwarded-Proto: https" -H "Cookie: $session")
rss_after=$(peak_rss_mib "$WEB_PID")
rows=$(psql -X -q -t -A -h 127.0.0.1 -p "$PG_PORT" -U postgres bench -c "select count(*) from ops_hourly")
entrants=$(psql -X -q -t -A -h 127.0.0.1 -p "$PG_PORT" -U postgres bench -c "select count(*) from mt_doc_entrant")

echo "Operators' dashboard, $entrants entrants, $rows hourly rows — $(machine_facts)"
echo
echo "| measure | result | goal |"
echo "|---|---|---|"
read -r uncached_median uncached_p95 <<<"$uncached"
read -r _ rps p99 cpu pg bad <<<"$cached"
echo "| uncached \`GET /ops/charts\` (median, p95 of 20) | $uncached_median ms, $uncached_p95 ms | < 200 ms |"
read -r alone_median alone_p95 <<<"$alone"
echo "| cached \`GET /ops/charts\`, one at a time (median, p95 of 20) | $alone_median ms, $alone_p95 ms | < 5 ms |"
echo "| cached \`GET /ops/charts\`, 16 connections (p99; requests/s) | $p99 ms; $rps/s (non-2xx: $bad) | — |"
echo "| web process CPU per cached request | $cpu µs | — |"
echo "| web process peak RSS before → after | $rss_before → $rss_after MiB | flat |"
