#!/usr/bin/env bash
# A mixed soak: signed GetSecretValue at 16 connections (wrk) and 4 writers
# putting new versions of 64 secrets (coffer-bench put), for MINUTES minutes;
# the server's anonymous memory (RssAnon) sampled every 10 s. Memory should level
# off after warm-up. Appends the curve to bench/SOAK_RESULTS.md.
#
# Usage: bench/soak.sh [minutes, default 10] [sqlite|postgres, default sqlite]
#   PROFILE=bench-release (default) or PROFILE=dev.
#   postgres: COFFER_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)
#   names the server whose database coffer_bench_soak is made (and dropped) on.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-10}"
STORE="${2:-sqlite}"
SECS=$((MINUTES * 60))
PORT=18890
DB=coffer_bench_soak
export AWS_ACCESS_KEY_ID=AKIABENCHSOAKBENCH00 AWS_SECRET_ACCESS_KEY=bench-soak-secret
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
. bench/lib.sh
LOADS=()
trap 'kill "${LOADS[@]}" 2>/dev/null || true; cleanup' EXIT
start_server
SRV=$PID
VALUE=$(printf '{"username":"app","password":"%0170d"}' 0)
"$BIN/coffer-bench" seed --endpoint http://127.0.0.1:$PORT --name bench/secret --value "$VALUE"
SIGNED=$("$BIN/coffer-bench" sign --endpoint-host 127.0.0.1:$PORT --secret-id bench/secret)
export BENCH_BODY=$(printf '%s\n' "$SIGNED" | sed -n 's/^BODY //p')
HDRS=()
while IFS= read -r line; do
  case "$line" in BODY*) ;; *) HDRS+=(-H "$line") ;; esac
done <<< "$SIGNED"

wrk -t2 -c16 -d${SECS}s -s bench/get.lua "${HDRS[@]}" "http://127.0.0.1:$PORT/" > "$WORK/wrk.txt" 2>&1 &
LOADS+=($!)
"$BIN/coffer-bench" put --endpoint http://127.0.0.1:$PORT --concurrency 4 --secrets-per-writer 16 --seconds $SECS > "$WORK/put.txt" 2>&1 &
LOADS+=($!)

rss() { awk '/^RssAnon:/ {printf "%.1f", $2 / 1024}' "/proc/$SRV/status"; }
CURVE="| seconds | anonymous memory (MB) |"$'\n'"|---|---|"$'\n'
for ((t = 0; t <= SECS; t += 10)); do
  CURVE+="| $t | $(rss) |"$'\n'
  sleep 10
done
wait "${LOADS[@]}" 2>/dev/null || true
{
  echo
  echo "## $(date -u +%Y-%m-%d) — $MINUTES-minute soak, $STORE store, build $BUILD"
  echo
  echo "$(nproc) cores. Reads: $(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt") GetSecretValue/s at 16 connections;"
  echo "writes: $(tail -1 "$WORK/put.txt")."
  echo
  printf '%s' "$CURVE"
} | tee -a bench/SOAK_RESULTS.md
