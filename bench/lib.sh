# What every benchmark shares: its own PostgreSQL, Redis, S3 (s3rver) and SendGrid stand-in on
# fixed loopback ports below 32768 (neither bin/test's nor bin/dev's), the app published as the
# Heroku buildpack does, the web process in Production settings, and the measuring helpers.
# Sourced by the bench/*.sh scripts, not run. Needs ROOT set to the repository root.

source "$ROOT/bin/lib/services.sh"

DIR=$ROOT/.local/bench
PG_PORT=27432 REDIS_PORT=27379 S3_PORT=27568 STUB_PORT=27025
WEB_PORT=27000 BASELINE_PORT=27001 PROXY_PORT=27002 BASELINE100_PORT=27003 BEFORE_PORT=27004
STATIC_PORT=27005 ROUTER_PORT=27010 # bench/spike.sh: nginx on 27010, its web processes on 27011-27013
APP=$DIR/publish/Campaign
HZ=$(getconf CLK_TCK)

# The first script to call bench_start owns the services (bench/run, or a script run alone) and
# stops them on exit; every script stops the processes it started itself. Each script starts from an
# empty database with the schema applied (db-apply, as the release phase does) and an empty Redis.
bench_start() {
  BENCH_PIDS=()
  trap bench_stop EXIT
  if [ -z "${BENCH_OWNER:-}" ]; then
    export BENCH_OWNER=$$
    bench_services
  fi
  app_env
  recreate_database "$PG_PORT" bench
  rm -f "$DIR"/stall-*.txt
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  (cd "$DIR/publish" && ./Campaign db-apply) >/dev/null 2>&1 || die "db-apply failed"
}

bench_services() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v /usr/bin/time >/dev/null || missing+=(time)
  command -v bc >/dev/null || missing+=(bc)
  command -v python3 >/dev/null || missing+=(python3)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  install_missing
  say "Starting PostgreSQL :$PG_PORT, Redis :$REDIS_PORT, S3 :$S3_PORT, a SendGrid stand-in :$STUB_PORT"
  start_postgres "$DIR/postgres" "$PG_PORT"
  start_redis "$DIR/redis" "$REDIS_PORT"
  start_s3 "$DIR/s3" "$S3_PORT"
  python3 "$ROOT/bench/stub_sendgrid.py" "$STUB_PORT" "$DIR/mailed.txt" &
  BENCH_PIDS+=($!)
  wait_http "http://127.0.0.1:$STUB_PORT/" || die "the SendGrid stand-in did not start"
  (cd "$ROOT" && dotnet tool restore >/dev/null) || die "dotnet tool restore failed"
  say "Publishing the app (Release, as the buildpack does)"
  publish "$DIR/publish/"
}

# watch_stalls PID [NAME] [DATABASE]: in the background, at the first 503 in $DIR/NAME.log (default
# web; a backing service failed or timed out: under load, usually the connection pool's 3 s), keeps
# the process's managed threads' stacks (dotnet-stack) and PostgreSQL's sessions on DATABASE
# (default bench) as they are at that moment, in $DIR/stall-NAME-*.txt. A stall that has passed
# leaves nothing to look at; these show what the requests were waiting for.
watch_stalls() {
  local pid=$1 name=${2:-web} database=${3:-bench}
  (
    # The log is read once, as it is written (a re-read every half second would grow with the
    # run's tens of thousands of request lines, on the cores being measured); the watch ends with
    # the process.
    tail -n +1 -F --pid="$pid" "$DIR/$name.log" 2>/dev/null | grep -q -m1 "status=503" || exit 0
    (cd "$ROOT" && timeout 30 dotnet dotnet-stack report -p "$pid") >"$DIR/stall-$name-stacks.txt" 2>&1
    psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres "$database" -c "select pid, state, wait_event_type,
      wait_event, now() - xact_start as in_transaction, now() - state_change as in_state,
      left(regexp_replace(query, '\s+', ' ', 'g'), 100) as query
      from pg_stat_activity where datname = '$database' order by xact_start" >"$DIR/stall-$name-postgres.txt" 2>&1
  ) &
  BENCH_PIDS+=($!)
}

# stall_report [NAME]: one line on what watch_stalls kept for NAME (default web), if anything.
stall_report() {
  local name=${1:-web}
  if [ -e "$DIR/stall-$name-postgres.txt" ]; then
    echo "$name answered 503: its stacks and PostgreSQL's sessions at the first one are in $DIR/stall-$name-stacks.txt and $DIR/stall-$name-postgres.txt"
  else
    echo "$name answered no 503"
  fi
}

bench_stop() {
  local i
  # The newest first: a web process flushes its mail queue to the stand-in before it exits.
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${BENCH_PIDS[i]}"; done
  [ "${BENCH_OWNER:-}" = $$ ] || return 0
  stop_s3 "$DIR/s3"
  stop_redis "$REDIS_PORT"
  stop_postgres "$DIR/postgres"
}

# Keeps a process to stop on exit: `remember $!`.
remember() { BENCH_PIDS+=("$1"); }

# The web process's configuration, as on a Heroku web dyno (Production settings), with the
# per-client rate limit off (all load comes from one address) and mail to the local stand-in.
app_env() {
  export ASPNETCORE_ENVIRONMENT=Production DYNO=web.1 RATE_LIMIT_PER_MINUTE=0 \
    UNCONFIRMED_MAIL_PER_DOMAIN_PER_HOUR=100000000 UNCONFIRMED_MAIL_PER_HOUR=100000000 \
    DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/bench REDIS_URL=redis://127.0.0.1:$REDIS_PORT \
    APP_BASE_URL=https://campaign.example.test SENDGRID_API_KEY=SG.bench \
    SENDGRID_API_URL=http://127.0.0.1:$STUB_PORT MAIL_FROM=campaign@example.test \
    S3_ENDPOINT=http://127.0.0.1:$S3_PORT S3_BUCKET=$S3_BUCKET_NAME AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
}

# start_web [PORT] [NAME] [PUBLISH]: starts a published web process (default $DIR/publish) logging
# to $DIR/NAME.log (default web), and waits until it answers; sets WEB_PID. The caller's environment
# reaches it: `DYNO=web.2 start_web 27012 web.2`.
start_web() {
  local port=${1:-$WEB_PORT} name=${2:-web} publish=${3:-$DIR/publish}
  # From its own folder, as the Procfile runs it: appsettings.json is read from there.
  (cd "$publish" && exec ./Campaign --urls "http://127.0.0.1:$port") >"$DIR/$name.log" 2>&1 &
  WEB_PID=$!
  remember "$WEB_PID"
  wait_http "http://127.0.0.1:$port/healthz" || { tail -n 20 "$DIR/$name.log" >&2; die "$name did not start"; }
}

# running PID: the process is there and has not exited (an exited child stays a zombie until waited for).
running() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ] && [ -e "/proc/$1" ]; }

# stop_pid PID: SIGTERM, and SIGKILL 30 s later if it is still there, as Heroku does.
stop_pid() {
  local _
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 300); do running "$1" || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

wait_http() { local _; for _ in $(seq 300); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

# The machine and build a result belongs to, one line.
machine_facts() {
  local gc
  gc=$(python3 -c 'import json, sys
o = json.load(open(sys.argv[1]))["runtimeOptions"].get("configProperties", {})
gc = [k[10:] + "=" + str(v).lower() for k, v in o.items() if k.startswith("System.GC.")]
jit = [k[15:] + "=" + str(v).lower() for k, v in o.items() if k.startswith("System.Runtime.Tiered")]
print(", ".join(gc) or "default (server, concurrent)", end="")
print("; JIT: " + ", ".join(jit) if jit else "")' "$DIR/publish/Campaign.runtimeconfig.json" 2>/dev/null || echo unknown)
  printf '%s, %s cores (%s), Linux %s, .NET %s, GC: %s, commit %s%s\n' \
    "$(date -u +%Y-%m-%d)" "$(nproc)" "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
    "$(uname -r)" "$(dotnet --list-runtimes | awk '/Microsoft.NETCore.App/ {v=$2} END {print v}')" \
    "$gc" "$(git -C "$ROOT" rev-parse --short HEAD)" \
    "$(git -C "$ROOT" diff --quiet HEAD -- Campaign bench 2>/dev/null || echo ' (with local changes)')"
}

# CPU time (user + system, clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# CPU time of the whole PostgreSQL cluster: the postmaster, its live backends and those gone.
pg_ticks() {
  local master
  master=$(head -n 1 "$DIR/postgres/postmaster.pid")
  { awk '{print $14 + $15 + $16 + $17}' "/proc/$master/stat"
    for child in $(pgrep -P "$master"); do awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || true; done
  } | awk '{s += $1} END {print s}'
}

peak_rss_mib() { awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }

# load NAME PID URL SECONDS CONNECTIONS [wrk options...]: runs wrk and prints
#   NAME requests/s p99(ms) cpu-µs-per-request-of-PID pg-cpu-µs-per-request non-2xx
load() {
  local name=$1 pid=$2 url=$3 seconds=$4 connections=$5 out before pg_before after pg_after
  shift 5
  out=$(mktemp)
  before=$(cpu_ticks "$pid") pg_before=$(pg_ticks)
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" "$url" >"$out"
  after=$(cpu_ticks "$pid") pg_after=$(pg_ticks)
  awk -v name="$name" -v cpu=$((after - before)) -v pg=$((pg_after - pg_before)) -v hz="$HZ" '
    /Requests\/sec/ {rps = $2}
    /^ +99%/ {p99 = $2}
    /requests in/ {n = $1}
    /Non-2xx/ {bad = $NF}
    END {
      if (p99 ~ /us$/) p = p99 / 1000; else if (p99 ~ /ms$/) p = p99 + 0; else p = p99 * 1000
      printf "%s %.0f %.2f %.0f %.0f %d\n", name, rps, p, cpu * 1e6 / hz / n, pg * 1e6 / hz / n, bad + 0
    }' "$out"
  rm -f "$out"
}

# median_of FIELD < lines: the median of one numeric field over three (or any odd number) lines.
median_of() { awk -v f="$1" '{print $f}' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# summarize < "name rps p99 cpu pg bad" lines: one row per name, medians of each column.
summarize() {
  local lines name
  lines=$(cat)
  for name in $(awk '{print $1}' <<<"$lines" | awk '!seen[$0]++'); do
    local rows
    rows=$(awk -v n="$name" '$1 == n' <<<"$lines")
    printf '%s %s %s %s %s %s\n' "$name" "$(median_of 2 <<<"$rows")" "$(median_of 3 <<<"$rows")" \
      "$(median_of 4 <<<"$rows")" "$(median_of 5 <<<"$rows")" "$(awk '{s += $6} END {print s}' <<<"$rows")"
  done
}
