#!/usr/bin/env bash
# CloudTrail's LookupEvents over a long trail, in one run on this machine: a dev
# server's audit file is filled with RECORDS GetSecretValue records (wrk replaying
# one signed request), then LookupEvents pages are timed against GetSecretValue
# (the reference), with the server's anonymous memory before and after.
# Appends one section to bench/TRAIL_RESULTS.md.
#
# Usage: bench/trail.sh [records, default 200000]
#   PROFILE=bench-release (default) or PROFILE=dev for a quick look;
#   BENCH_BIN_DIR=DIR runs the coffer and coffer-bench binaries in DIR instead
#   (an older build, for a before/after in the same conditions).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-200000}"
PORT=18920
STORE=sqlite
DB=unused
export AWS_ACCESS_KEY_ID=AKIABENCHTRAILBENCH1 AWS_SECRET_ACCESS_KEY=bench-trail-secret
. bench/lib.sh
if [ -n "${BENCH_BIN_DIR:-}" ]; then BIN="$BENCH_BIN_DIR"; BUILD="$BUILD, binaries of $BENCH_BIN_DIR"; fi
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
[ -x .venv/bin/python ] && .venv/bin/python -c "import boto3" 2>/dev/null || {
  python3 -m venv .venv && .venv/bin/pip install --quiet -r e2e/requirements.txt; }

start_server
"$BIN/coffer-bench" seed --endpoint http://127.0.0.1:$PORT --name bench/trail --value bench-value
SIGNED=$("$BIN/coffer-bench" sign --endpoint-host 127.0.0.1:$PORT --secret-id bench/trail)
export BENCH_BODY=$(printf '%s\n' "$SIGNED" | sed -n 's/^BODY //p')
HDRS=()
while IFS= read -r line; do
  case "$line" in BODY*) ;; *) HDRS+=(-H "$line") ;; esac
done <<< "$SIGNED"
FILL_START=$(date +%s)
while [ "$(wc -l < "$WORK/data/audit.log")" -lt "$RECORDS" ]; do
  wrk -t2 -c16 -d5s -s bench/get.lua "${HDRS[@]}" "http://127.0.0.1:$PORT/" >/dev/null 2>&1
done
FILL=$(( $(date +%s) - FILL_START ))
LINES=$(wc -l < "$WORK/data/audit.log")
SIZE=$(du -m "$WORK/data/audit.log" | cut -f1)
ANON0=$(awk '/^RssAnon/ {printf "%.1f", $2/1024}' "/proc/$PID/status")
OUT=$(AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" .venv/bin/python bench/trail.py --pid "$PID")
stop_server

{
  echo
  echo "## $(date -u +%F) — $LINES audit records ($SIZE MB file), sqlite store, build $BUILD"
  echo
  echo "2 cores; filled in ${FILL} s; p50 of the tries shown, one client (boto3)."
  echo "Anonymous memory of the server: $ANON0 MB before the lookups."
  echo
  echo "$OUT"
} >> bench/TRAIL_RESULTS.md
echo "$OUT"
