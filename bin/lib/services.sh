# Local backing services shared by bin/dev and bin/test: real PostgreSQL 15, Redis and an
# S3-compatible server (s3rver), as private instances under .local/<name>/ on fixed loopback ports
# below 32768 (Linux hands out ports from 32768 up to outgoing connections).
# Sourced, not run. Needs ROOT set to the repository root.

PG_BIN=/usr/lib/postgresql/15/bin
# libfaketime: Debian's, or the Apt buildpack's under $HOME/.apt on Heroku CI (Aptfile).
# CAMPAIGN_FAKETIME_LIB names another; the tests read the same variable (Campaign.Tests/MovedClock.cs).
if [ -z "${CAMPAIGN_FAKETIME_LIB:-}" ]; then
  CAMPAIGN_FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
  apt_lib=${HOME:-/nonexistent}/.apt/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
  [ ! -e "$CAMPAIGN_FAKETIME_LIB" ] && [ -e "$apt_lib" ] && CAMPAIGN_FAKETIME_LIB=$apt_lib
fi
export CAMPAIGN_FAKETIME_LIB
FAKETIME_LIB=$CAMPAIGN_FAKETIME_LIB
S3_BUCKET_NAME=campaign

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31mError: %s\033[0m\n' "$*" >&2; exit 1; }

# Runs a command as root: directly, or through sudo when it needs no password.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1; fi
}

# apt_install PACKAGE...: installs Debian packages (updating the package lists only when the first
# try fails), or stops and says which command to run.
apt_install() {
  say "Installing $* with apt"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@")
  as_root "${apt[@]}" >/dev/null 2>&1 \
    || { as_root apt-get update -q >/dev/null 2>&1 && as_root "${apt[@]}" >/dev/null; } \
    || die "could not install $*. Run: sudo apt-get update && sudo apt-get install -y $*"
}

# Installs what is missing (apt for the servers, npm for s3rver and Bootstrap); does nothing when
# all is there. `install_missing browser` also installs Debian's Chromium for the browser tests,
# with a Japanese font (the pages are Japanese first: without one, a screenshot shows boxes).
install_missing() {
  local missing=()
  [ "${1:-}" = browser ] && ! command -v chromium >/dev/null && missing+=(chromium)
  [ "${1:-}" = browser ] && [ ! -d /usr/share/fonts/opentype/ipafont-gothic ] && missing+=(fonts-ipafont-gothic)
  [ -x "$PG_BIN/initdb" ] || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v npm >/dev/null || missing+=(nodejs npm)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  install_node_packages
}

# The project's own npm packages (s3rver, Bootstrap) into the checkout: no root needed.
install_node_packages() {
  command -v npm >/dev/null || die "npm is needed (Node.js 20): sudo apt-get install -y nodejs npm"
  # npm ci only when package-lock.json changed since the last install.
  if [ ! -f "$ROOT/node_modules/.package-lock.json" ] \
     || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    say "Installing npm packages (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  fi
  # The front-end assets (Bootstrap) into Campaign/wwwroot, as Heroku's Node.js buildpack does.
  (cd "$ROOT" && npm run --silent build) || die "npm run build failed"
}

# PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user.
pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$PG_BIN/$1" "${@:2}"
  else "$PG_BIN/$1" "${@:2}"; fi
}

# start_postgres DIR PORT: creates the cluster on first use, then starts it (if not running).
start_postgres() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    runuser -u postgres -- test -x "$dir" \
      || die "the postgres user cannot reach $dir: make its parent folders traversable (chmod o+x) or clone the repository elsewhere"
  fi
  chmod 700 "$dir"
  if [ ! -s "$dir/PG_VERSION" ]; then
    say "Creating a PostgreSQL cluster in ${dir#"$ROOT"/}"
    pg initdb -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null \
      || die "initdb failed"
  fi
  if ! pg pg_ctl -D "$dir" status >/dev/null 2>&1; then
    pg pg_ctl -D "$dir" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $dir" start >/dev/null \
      || { tail -n 5 "$dir/server.log" >&2; die "PostgreSQL did not start on port $port"; }
  fi
}

stop_postgres() { pg pg_ctl -D "$1" -m fast -w stop >/dev/null 2>&1 || true; }

# psql_admin PORT SQL: runs SQL as the superuser of a local cluster.
psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -v ON_ERROR_STOP=1 -tAc "$2"; }

ensure_database() {
  [ "$(psql_admin "$1" "select 1 from pg_database where datname = '$2'")" = 1 ] \
    || psql_admin "$1" "create database \"$2\""
}

recreate_database() {
  psql_admin "$1" "drop database if exists \"$2\" with (force)" && psql_admin "$1" "create database \"$2\""
}

# Redis and its client never run under a moved clock (bin/test's CAMPAIGN_TEST_CLOCK_AT): libfaketime
# makes them hang, and Redis's expiries are relative anyway.
redis_cli() { env -u LD_PRELOAD redis-cli "$@"; }

# start_redis DIR PORT: no persistence, like a cache; sessions survive a restart of the app, not of
# this local Redis.
start_redis() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  redis_cli -p "$port" ping >/dev/null 2>&1 && return 0
  # As Heroku Redis mini: 25 MB. volatile-ttl evicts the keys closest to expiry first (rate-limit
  # counters before sessions) and never the data-protection keys, which have no TTL.
  env -u LD_PRELOAD redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
    --maxmemory 25mb --maxmemory-policy volatile-ttl \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null \
    || die "Redis did not start on port $port"
  for _ in $(seq 50); do redis_cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "Redis did not answer on port $port"
}

stop_redis() { redis_cli -p "$1" shutdown nosave >/dev/null 2>&1 || true; }

# start_s3 DIR PORT: s3rver with the bucket and its CORS rule (browser uploads) configured. It runs
# in a session of its own, as PostgreSQL and Redis do (they daemonise), so a Ctrl-C in the terminal
# reaches only the script, which stops it after the processes that use it.
start_s3() {
  local dir=$1 port=$2
  mkdir -p "$dir/data"
  curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && return 0
  setsid "$ROOT/node_modules/.bin/s3rver" -d "$dir/data" -a 127.0.0.1 -p "$port" --silent \
    --configure-bucket "$S3_BUCKET_NAME" "$ROOT/bin/lib/s3-cors.xml" >"$dir/s3rver.log" 2>&1 &
  echo $! >"$dir/s3rver.pid"
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && return 0; sleep 0.1; done
  tail -n 5 "$dir/s3rver.log" >&2
  die "s3rver did not answer on port $port"
}

# stop_s3 DIR: succeeds also when s3rver has already ended (a failing kill would end a caller that
# runs under set -e before it stops Redis and PostgreSQL).
stop_s3() {
  [ -f "$1/s3rver.pid" ] && kill "$(cat "$1/s3rver.pid")" 2>/dev/null || true
  rm -f "$1/s3rver.pid"
}

# The exact command Heroku's .NET buildpack runs; PublishDir may be overridden. The folder is
# emptied first, as the buildpack's is always new: publishing copies a dependency only when it is
# newer than the copy already there, so files from an earlier publish with other settings (say
# ReadyToRun) would otherwise stay and be measured.
publish() {
  local log dir=${1:-bin/publish}
  case $dir in
    /*) rm -rf "$dir" ;;
    *) rm -rf "$ROOT/Campaign/$dir" ;;
  esac
  log=$(mktemp)
  dotnet publish "$ROOT/Campaign.slnx" --runtime linux-x64 -c Release --nologo -v q \
    -p:PublishDir="$dir" >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; die "dotnet publish failed"; }
  rm -f "$log"
}
