#!/usr/bin/env bash
# Measures, in one run on this machine:
#   - signed, decrypted GetSecretValue: requests/s and p50/p99 at 1, 16, 64 connections
#     against `coffer server`, and the same wrk load against a bare hyper server that
#     answers a fixed 200-byte JSON body (the ceiling);
#   - durable PutSecretValue writes/s (SQLite WAL, synchronous=FULL) through the AWS SDK.
# Writes bench/RESULTS.md. Usage: bench/run.sh [seconds-per-point, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p coffer -p coffer-bench
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
PORT=18750; CEIL=18751
export AWS_ACCESS_KEY_ID=AKIABENCHBENCHBENCH0 AWS_SECRET_ACCESS_KEY=bench-secret-key

cleanup() { kill "${SRV:-}" "${CEILING:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

COFFER_DEV_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID COFFER_DEV_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$BIN/coffer" server --dev --log-level warn --data-dir "$WORK/data" --listen 127.0.0.1:$PORT > "$WORK/env" 2> "$WORK/server.log" &
SRV=$!
"$BIN/coffer-bench" ceiling 127.0.0.1:$CEIL &
CEILING=$!
until grep -q AWS_DEFAULT_REGION "$WORK/env" 2>/dev/null; do sleep 0.2; done

# A 200-byte value, so both servers return bodies of comparable size.
VALUE=$(printf '{"username":"app","password":"%0170d"}' 0)
"$BIN/coffer-bench" seed --endpoint http://127.0.0.1:$PORT --name bench/secret --value "$VALUE"

SIGNED=$("$BIN/coffer-bench" sign --endpoint-host 127.0.0.1:$PORT --secret-id bench/secret)
BODY=$(printf '%s\n' "$SIGNED" | sed -n 's/^BODY //p')
HDRS=()
while IFS= read -r line; do
  case "$line" in BODY*) ;; *) HDRS+=(-H "$line") ;; esac
done <<< "$SIGNED"
export BENCH_BODY="$BODY"

run_wrk() { # port connections
  local threads=$(( $2 < 2 ? 1 : 2 ))
  wrk -t$threads -c$2 -d${SECS}s --latency -s bench/get.lua "${HDRS[@]}" "http://127.0.0.1:$1/" 2>&1
}
parse() { # wrk-output -> "rps p50 p99"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<< "$1")
  p50=$(awk '$1=="50%" {print $2}' <<< "$1")
  p99=$(awk '$1=="99%" {print $2}' <<< "$1")
  local non2xx; non2xx=$(awk '/Non-2xx/ {print $NF}' <<< "$1")
  [ -z "$non2xx" ] || { echo "wrk saw $non2xx non-2xx answers" >&2; echo "$1" >&2; exit 1; }
  echo "$rps $p50 $p99"
}

ROWS=""
for c in 1 16 64; do
  read -r crps cp50 cp99 < <(parse "$(run_wrk $PORT $c)")
  read -r hrps hp50 hp99 < <(parse "$(run_wrk $CEIL $c)")
  ratio=$(python3 -c "print(f'{$crps/$hrps*100:.0f}%')")
  ROWS+="| $c | $crps | $cp50 | $cp99 | $hrps | $hp50 | $hp99 | $ratio |"$'\n'
done

PUT=$("$BIN/coffer-bench" put --endpoint http://127.0.0.1:$PORT --concurrency 64 --secrets-per-writer 16 --seconds "$SECS")

cat > bench/RESULTS.md <<MD
# Benchmark results

Run by \`bench/run.sh $SECS\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m);
load generator (wrk) on the same machine. Release builds.

## GetSecretValue (signed SigV4, decrypted, audited) vs a bare hyper server

| connections | coffer req/s | p50 | p99 | ceiling req/s | p50 | p99 | coffer / ceiling |
|---|---|---|---|---|---|---|---|
$ROWS
Goal: ≥ 50% of the ceiling's requests per second; p99 under 2 ms at 64 connections.

## PutSecretValue, durable (SQLite WAL, synchronous=FULL, group commit)

64 concurrent writers through the AWS SDK for Rust, each cycling over its own 16 secrets (1,024 secrets):

    $PUT

Goal: ≥ 2,000 durable writes/s.
MD
cat bench/RESULTS.md
