#!/usr/bin/env bash
# The event bus under load, in one run on this machine:
#   - durable PutSecretValue/s (coffer-bench put, 64 writers) with no rules, then
#     with RULES rules on the default bus (none of which matches those writes:
#     the cost of matching);
#   - latency from an acknowledged PutSecretValue to its delivery at a webhook
#     receiver, with RULES rules of which MATCHING match (first delivery, and all
#     MATCHING of them), one change at a time.
# Appends one section to bench/EVENTS_RESULTS.md.
#
# Usage: bench/events.sh [seconds-per-point, default 10] [rules, default 1000] [matching, default 10]
#   PROFILE=bench-release (default) or PROFILE=dev for a quick look.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
RULES="${2:-1000}"
MATCHING="${3:-10}"
COUNT="${COUNT:-200}"
PORT=18910
HOOK=18911
STORE=sqlite
DB=unused
export AWS_ACCESS_KEY_ID=AKIABENCHEVENTSBENCH AWS_SECRET_ACCESS_KEY=bench-events-secret
. bench/lib.sh
[ -x .venv/bin/python ] && .venv/bin/python -c "import boto3" 2>/dev/null || {
  python3 -m venv .venv && .venv/bin/pip install --quiet -r e2e/requirements.txt; }
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"

start_server
put() { "$BIN/coffer-bench" put --endpoint "$AWS_ENDPOINT_URL" --concurrency 64 --secrets-per-writer 16 --seconds "$SECS" | sed -n 's/.*writes_per_sec=\([0-9.]*\).*/\1/p'; }
NONE=$(put)
ANON0=$(awk '/^RssAnon/ {printf "%.1f", $2/1024}' "/proc/$PID/status")
SETUP_START=$(date +%s)
.venv/bin/python bench/events.py rules --rules "$RULES" --matching "$MATCHING" --port "$HOOK"
SETUP=$(( $(date +%s) - SETUP_START ))
WITH=$(put)
LAT=$(.venv/bin/python bench/events.py latency --count "$COUNT" --matching "$MATCHING" --port "$HOOK")
ANON=$(awk '/^RssAnon/ {printf "%.1f", $2/1024}' "/proc/$PID/status")
stop_server
j() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$1'])" "$LAT"; }

cat >> bench/EVENTS_RESULTS.md <<MD

## $(date -u +%Y-%m-%d) — build $BUILD, $RULES rules ($MATCHING matching), SQLite store

$(nproc) cores, $(uname -m); the server, coffer-bench, boto3 and the webhook receiver share the machine.

| durable PutSecretValue/s, no rules | with $RULES rules | ratio |
|---|---|---|
| $NONE | $WITH | $(python3 -c "print(f'{$WITH/$NONE:.2f}')") |

$COUNT changes, one at a time; from the acknowledged PutSecretValue to the webhook:

| first delivery p50 | p99 | all $MATCHING deliveries p50 | p99 |
|---|---|---|---|
| $(j first_p50_ms) ms | $(j first_p99_ms) ms | $(j all_p50_ms) ms | $(j all_p99_ms) ms |

Setting up the $RULES rules and targets through the API took ${SETUP} s. The server's
anonymous memory: ${ANON0} MB after the run without rules, ${ANON} MB at the end.
MD
tail -n 16 bench/EVENTS_RESULTS.md
