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
PROFILE="${PROFILE:-bench-release}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --profile "$PROFILE" -q -p coffer -p coffer-bench
case "$PROFILE" in dev) BIN="$CARGO_TARGET_DIR/debug" ;; *) BIN="$CARGO_TARGET_DIR/$PROFILE" ;; esac
WORK="$(mktemp -d)"
PORT=18880
export AWS_ACCESS_KEY_ID=AKIABENCHHISTORY0000 AWS_SECRET_ACCESS_KEY=bench-history-secret AWS_REGION=us-east-1
export COFFER_ROOT_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
ADMIN_URL="${COFFER_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_URL="${ADMIN_URL%/*}/coffer_bench_history"
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"
  [ "$STORE" = postgres ] && [ -z "${KEEP_DB:-}" ] && psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS coffer_bench_history WITH (FORCE)" >/dev/null 2>&1
  true
}
trap cleanup EXIT
ARGS=(server --dev --log-level warn --root-key env --data-dir "$WORK/data" --listen 127.0.0.1:$PORT)
if [ "$STORE" = postgres ]; then
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS coffer_bench_history WITH (FORCE)" -c "CREATE DATABASE coffer_bench_history" >/dev/null
  ARGS+=(--database-url "$DB_URL")
fi
COFFER_DEV_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID COFFER_DEV_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$BIN/coffer" "${ARGS[@]}" > "$WORK/env" 2>"$WORK/log" &
PID=$!
until grep -q AWS_DEFAULT_REGION "$WORK/env" 2>/dev/null; do sleep 0.2; done
case "$PROFILE" in
  dev) BUILD="\`dev\` (debug build: opt-level 1, dependencies opt-level 2)" ;;
  *) BUILD="\`$PROFILE\`" ;;
esac
{
  echo
  echo "## $(date -u +%Y-%m-%d) — $COUNT versions of one secret, $STORE store, build $BUILD"
  echo
  echo "$(nproc) cores; 8 writers over one client connection pool."
  echo
  "$BIN/coffer-bench" history --endpoint "http://127.0.0.1:$PORT" --count "$COUNT" --window $((COUNT / 10)) --pid "$PID"
} | tee -a bench/HISTORY_RESULTS.md
