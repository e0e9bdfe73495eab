#!/usr/bin/env bash
# Measures a rotation storm, in one run on this machine: 1,000 secrets whose
# rotation (built-in random-password rotator) starts at once, and the
# GetSecretValue p99 of readers of another secret during the storm, against the p99
# of the same readers with no rotation running.
# Writes bench/ROTATION_RESULTS.md. Usage: bench/rotation.sh [count, default 1000]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-1000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p coffer -p coffer-bench
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
PORT=18770
export AWS_ACCESS_KEY_ID=AKIABENCHBENCHBENCH0 AWS_SECRET_ACCESS_KEY=bench-secret-key
cleanup() { kill "${SRV:-}" "${WRK:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

COFFER_DEV_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID COFFER_DEV_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$BIN/coffer" server --dev --log-level warn --data-dir "$WORK/data" --listen 127.0.0.1:$PORT > "$WORK/env" 2> "$WORK/server.log" &
SRV=$!
until grep -q AWS_DEFAULT_REGION "$WORK/env" 2>/dev/null; do sleep 0.2; done
EP=http://127.0.0.1:$PORT
VALUE=$(printf '{"username":"app","password":"%0170d"}' 0)
"$BIN/coffer-bench" seed --endpoint $EP --name bench/reader --value "$VALUE"
"$BIN/coffer-bench" seed-many --endpoint $EP --prefix storm/ --count "$COUNT"

SIGNED=$("$BIN/coffer-bench" sign --endpoint-host 127.0.0.1:$PORT --secret-id bench/reader)
export BENCH_BODY; BENCH_BODY=$(printf '%s\n' "$SIGNED" | sed -n 's/^BODY //p')
HDRS=()
while IFS= read -r line; do case "$line" in BODY*) ;; *) HDRS+=(-H "$line") ;; esac; done <<< "$SIGNED"
readers() { # seconds -> p99
  wrk -t1 -c2 -d${1}s --latency -s bench/get.lua "${HDRS[@]}" "$EP/" 2>&1 | awk '$1=="99%" {print $2}'
}
BASE=$(readers 10)
readers 15 > "$WORK/storm_p99" &
WRK=$!
sleep 1
STORM=$("$BIN/coffer-bench" rotate-storm --endpoint $EP --prefix storm/ --count "$COUNT")
wait $WRK; WRK=
DURING=$(cat "$WORK/storm_p99")

cat > bench/ROTATION_RESULTS.md <<MD
# Rotation storm

Run by \`bench/rotation.sh $COUNT\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m);
wrk on the same machine. Release build. RotateSecret (RotateImmediately, built-in
coffer-random-password rotator) sent for $COUNT secrets at once by 16 clients; each
rotation runs the four steps, audited and durable.

    $STORM

GetSecretValue p99 of 2 readers of another secret: **$BASE** with no rotation,
**$DURING** during the storm (wrk running 15 s from 1 s before the storm).

Goal: all $COUNT rotated within one minute; reader p99 within 1.5× of the quiet p99.
MD
cat bench/ROTATION_RESULTS.md
