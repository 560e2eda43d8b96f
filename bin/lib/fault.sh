#!/usr/bin/env bash
# Breaks and mends the dedicated PostgreSQL and Redis that bin/test starts for the failure tests
# (never the ones the other tests use):
#   fault.sh stop|start postgres     fault.sh stop|start|hang|resume redis
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/bin/lib/services.sh"
DIR=$ROOT/.local/test/fault
case "$1 $2" in
  "stop postgres") stop_postgres "$DIR/postgres" ;;
  "start postgres") start_postgres "$DIR/postgres" "${FAULT_PG_PORT:-25433}" ;;
  "stop redis") stop_redis "${FAULT_REDIS_PORT:-26381}" ;;
  "start redis") start_redis "$DIR/redis" "${FAULT_REDIS_PORT:-26381}" ;;
  "hang redis") kill -STOP "$(cat "$DIR/redis/redis.pid")" ;;   # answers nothing: only timeouts help
  "resume redis") kill -CONT "$(cat "$DIR/redis/redis.pid")" ;;
  *) die "usage: fault.sh stop|start postgres | stop|start|hang|resume redis" ;;
esac
