#!/usr/bin/env bash
# Write cost against a secret's history: 8 writers put new versions of one
# secret (COUNT in all); writes/s and the server's anonymous memory per window.
# A flat rate means a write costs the same at its 10th and its 20,000th
# version. Appends to bench/HISTORY_RESULTS.md.
#
# Usage: bench/history.sh [count, default 20000] [sqlite|postgres, default sqlite]
#   PROFILE=bench-release (default) or PROFILE=dev.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-20000}"
STORE="${2:-sqlite}"
PORT=18880
DB=coffer_bench_history
export AWS_ACCESS_KEY_ID=AKIABENCHHISTORY0000 AWS_SECRET_ACCESS_KEY=bench-history-secret
. bench/lib.sh
start_server
{
  echo
  echo "## $(date -u +%Y-%m-%d) — $COUNT versions of one secret, $STORE store, build $BUILD"
  echo
  echo "$(nproc) cores; 8 writers over one client connection pool."
  # Without autovacuum a PostgreSQL history slows down (see the results).
  [ "$STORE" = postgres ] && echo "PostgreSQL autovacuum: $(psql -Atq "$DB_URL" -c 'SHOW autovacuum')."
  echo
  "$BIN/coffer-bench" history --endpoint "http://127.0.0.1:$PORT" --count "$COUNT" --window $((COUNT / 10)) --pid "$PID"
} | tee -a bench/HISTORY_RESULTS.md
