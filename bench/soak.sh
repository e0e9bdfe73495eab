#!/usr/bin/env bash
# A mixed soak: signed GetSecretValue at 16 connections (wrk) and 4 writers
# putting new versions of 64 secrets (coffer-bench put), for MINUTES minutes;
# the server's anonymous memory (RssAnon) sampled every 10 s. Memory should level
# off after warm-up. Appends the curve to bench/SOAK_RESULTS.md.
#
# Usage: bench/soak.sh [minutes, default 10]
#   PROFILE=bench-release (default) or PROFILE=dev.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-10}"
SECS=$((MINUTES * 60))
PROFILE="${PROFILE:-bench-release}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --profile "$PROFILE" -q -p coffer -p coffer-bench
case "$PROFILE" in dev) BIN="$CARGO_TARGET_DIR/debug" ;; *) BIN="$CARGO_TARGET_DIR/$PROFILE" ;; esac
WORK="$(mktemp -d)"
PORT=18890
export AWS_ACCESS_KEY_ID=AKIABENCHSOAKBENCH00 AWS_SECRET_ACCESS_KEY=bench-soak-secret AWS_REGION=us-east-1
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

COFFER_DEV_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID COFFER_DEV_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$BIN/coffer" server --dev --log-level warn --data-dir "$WORK/data" --listen 127.0.0.1:$PORT > "$WORK/env" 2>"$WORK/log" &
SRV=$!
PIDS+=($SRV)
until grep -q AWS_DEFAULT_REGION "$WORK/env" 2>/dev/null; do sleep 0.2; done
VALUE=$(printf '{"username":"app","password":"%0170d"}' 0)
"$BIN/coffer-bench" seed --endpoint http://127.0.0.1:$PORT --name bench/secret --value "$VALUE"
SIGNED=$("$BIN/coffer-bench" sign --endpoint-host 127.0.0.1:$PORT --secret-id bench/secret)
export BENCH_BODY=$(printf '%s\n' "$SIGNED" | sed -n 's/^BODY //p')
HDRS=()
while IFS= read -r line; do
  case "$line" in BODY*) ;; *) HDRS+=(-H "$line") ;; esac
done <<< "$SIGNED"

wrk -t2 -c16 -d${SECS}s -s bench/get.lua "${HDRS[@]}" "http://127.0.0.1:$PORT/" > "$WORK/wrk.txt" 2>&1 &
PIDS+=($!)
"$BIN/coffer-bench" put --endpoint http://127.0.0.1:$PORT --concurrency 4 --secrets-per-writer 16 --seconds $SECS > "$WORK/put.txt" 2>&1 &
PIDS+=($!)

rss() { awk '/^RssAnon:/ {printf "%.1f", $2 / 1024}' "/proc/$SRV/status"; }
CURVE="| seconds | anonymous memory (MB) |"$'\n'"|---|---|"$'\n'
for ((t = 0; t <= SECS; t += 10)); do
  CURVE+="| $t | $(rss) |"$'\n'
  sleep 10
done
wait "${PIDS[1]}" "${PIDS[2]}" 2>/dev/null || true
case "$PROFILE" in
  dev) BUILD="\`dev\` (debug build: opt-level 1, dependencies opt-level 2)" ;;
  *) BUILD="\`$PROFILE\`" ;;
esac
{
  echo
  echo "## $(date -u +%Y-%m-%d) — $MINUTES-minute soak, SQLite store, build $BUILD"
  echo
  echo "$(nproc) cores. Reads: $(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt") GetSecretValue/s at 16 connections;"
  echo "writes: $(tail -1 "$WORK/put.txt")."
  echo
  printf '%s' "$CURVE"
} | tee -a bench/SOAK_RESULTS.md
