#!/usr/bin/env bash
# The nightly batch at scale: N synthetic entrants (default 100,000) who all qualify for a
# reminder; times `nightly-mail` (writing the reminders into the outbox) and `outbox-drain`
# (sending them to the local SendGrid stand-in, up to 1000 recipients per request), with the peak
# memory (max RSS) and CPU time of each process.
#   bench/nightly.sh [entrants]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
COUNT=${1:-100000}
bench_start
export DYNO=run.1 ALLOW_SEED=true
say "Seeding $COUNT entrants"
(cd "$DIR/publish" && ./Campaign seed-entrants --count "$COUNT") >/dev/null 2>&1 || die "seed-entrants failed"
before=$(curl -s "http://127.0.0.1:$STUB_PORT/")

measure() { # measure LABEL COMMAND...: wall seconds, CPU seconds and max RSS of one process
  local label=$1 out; shift; out=$(mktemp)
  (cd "$DIR/publish" && /usr/bin/time -f "%e %U %S %M" -o "$out" "$@") >/dev/null 2>&1 || { cat "$out" >&2; die "$label failed"; }
  read -r seconds user system kib < <(tail -n 1 "$out"); rm -f "$out"
  printf '| %s | %s s | %s s | %d MiB |\n' "$label" "$seconds" "$(echo "$user + $system" | bc)" "$((kib / 1024))"
}
echo "Nightly batch, $COUNT entrants — $(machine_facts)"
echo
echo "| step | time | CPU time | peak RSS |"
echo "|---|---|---|---|"
# Tonight's reminders (the command's default night): a night long past has expired reminders,
# which the drain drops instead of sending.
measure '`nightly-mail` (write the reminders)' ./Campaign nightly-mail
# The sweep leaves messages younger than a minute to the web's fast path: age them for the drain.
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres bench -c "update mt_doc_outboxmessage set created_at = created_at - interval '2 minutes'" >/dev/null
measure '`outbox-drain` (send, 1000 per request)' ./Campaign outbox-drain
echo
received=$(( $(curl -s "http://127.0.0.1:$STUB_PORT/") - before ))
# Every entrant's reminder, and the operators' summary (none are configured here).
echo "recipients received by the SendGrid stand-in: $received of $COUNT"
[ "$received" -ge "$COUNT" ] || echo "MISSED: $(( COUNT - received )) reminders were not sent"

