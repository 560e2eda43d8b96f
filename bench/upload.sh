#!/usr/bin/env bash
# Direct upload: the bytes that pass through the web process while a visitor uploads a photo of
# MiB (default 5) straight to S3 (s3rver), counted by a TCP proxy in front of the web process.
#   bench/upload.sh [MiB]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
MIB=${1:-5}
bench_start
start_web
# The browser posts to the bucket: the app's own origin is the proxy's.
echo "Direct upload — $(machine_facts)"
echo
python3 "$ROOT/bench/upload.py" "$PROXY_PORT" "$WEB_PORT" "$STUB_PORT" "$MIB"
stop_pid "$WEB_PID"
