#!/usr/bin/env bash
# The stores against each other, and a fleet on one PostgreSQL database, in one
# run on this machine with the same load generators:
#   - signed, decrypted, audited GetSecretValue (wrk) and durable PutSecretValue
#     (coffer-bench put, AWS SDK for Rust) on SQLite and on PostgreSQL; SQLite is
#     the reference of the ratios;
#   - GetSecretValue through 1, 2 and 3 servers sharing one PostgreSQL database,
#     the same total number of connections spread over the servers;
#   - how soon a change through one server reaches another: a put through the
#     first served by the second (coffer-bench reach), and by a `coffer agent`
#     subscribed to the third (coffer-bench push-latency).
# Appends one section to bench/FLEET_RESULTS.md.
#
# Usage: bench/fleet.sh [seconds-per-point, default 10]
#   PROFILE=bench-release (default) or PROFILE=dev for a quick look.
#   COFFER_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)
#   names the server whose database coffer_bench_fleet is made (and dropped) on.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
PORT=18890
DB=coffer_bench_fleet
CONNS=48
STORE=postgres
export AWS_ACCESS_KEY_ID=AKIABENCHFLEETBENCH0 AWS_SECRET_ACCESS_KEY=bench-fleet-secret
. bench/lib.sh
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
FLEET=()
stop_fleet() { for p in "${FLEET[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; FLEET=(); }
trap 'stop_fleet; cleanup' EXIT
VALUE=$(printf '{"username":"app","password":"%0170d"}' 0)

# Server I of the fleet (port PORT+10+I, its own data directory), on $DB_URL.
start_member() {
  local port=$((PORT + 10 + $1)) dir="$WORK/member$1"
  COFFER_DEV_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID COFFER_DEV_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    "$BIN/coffer" server --dev --log-level warn --root-key env --data-dir "$dir" \
    --listen 127.0.0.1:$port --database-url "$DB_URL" > "$dir.env" 2>"$dir.log" &
  FLEET+=($!)
  until grep -q AWS_DEFAULT_REGION "$dir.env" 2>/dev/null; do sleep 0.2; done
}

# wrk replaying one signed GetSecretValue of bench/secret at 127.0.0.1:PORT
# with C connections, into file OUT (run in the background by the caller).
wrk_get() { # port connections out
  local signed body hdrs=()
  signed=$("$BIN/coffer-bench" sign --endpoint-host 127.0.0.1:$1 --secret-id bench/secret)
  body=$(printf '%s\n' "$signed" | sed -n 's/^BODY //p')
  while IFS= read -r line; do
    case "$line" in BODY*) ;; *) hdrs+=(-H "$line") ;; esac
  done <<< "$signed"
  BENCH_BODY="$body" wrk -t1 -c"$2" -d"${SECS}s" --latency -s bench/get.lua "${hdrs[@]}" "http://127.0.0.1:$1/" > "$3" 2>&1
}
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
pct() { awk -v p="$2" '$1==p {print $2}' "$1"; }
ok() { ! grep -q Non-2xx "$1" || { echo "wrk saw non-2xx answers:" >&2; cat "$1" >&2; exit 1; }; }
anon_mb() { awk '/^RssAnon/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# Part 1: one server on each store, GetSecretValue then PutSecretValue.
STORE_ROWS=""
declare -A GET PUT PUTLAT
for s in sqlite postgres; do
  STORE=$s start_server
  "$BIN/coffer-bench" seed --endpoint "http://127.0.0.1:$PORT" --name bench/secret --value "$VALUE"
  wrk_get $PORT 16 "$WORK/get-$s"; ok "$WORK/get-$s"
  GET[$s]=$(rps "$WORK/get-$s")
  out=$("$BIN/coffer-bench" put --endpoint "http://127.0.0.1:$PORT" --concurrency 64 --secrets-per-writer 16 --seconds "$SECS")
  PUT[$s]=$(sed -n 's/.*writes_per_sec=\([0-9.]*\).*/\1/p' <<< "$out")
  PUTLAT[$s]=$(sed -n 's/.*p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\).*/\1 ms \/ \2 ms/p' <<< "$out")
  [ -n "${PUT[$s]}" ] || { echo "unexpected put output: $out" >&2; exit 1; }
  STORE_ROWS+="| $s | ${GET[$s]} | $(pct "$WORK/get-$s" 50%) | $(pct "$WORK/get-$s" 99%) | ${PUT[$s]} | ${PUTLAT[$s]} | $(anon_mb "$PID") MB |"$'\n'
  stop_server
  rm -rf "$WORK/data"
done
STORE=postgres
RATIO_GET=$(python3 -c "print(f'{${GET[postgres]}/${GET[sqlite]}:.2f}')")
RATIO_PUT=$(python3 -c "print(f'{${PUT[postgres]}/${PUT[sqlite]}:.2f}')")

# Part 2: 1, 2 and 3 servers on one database (seeded by part 1), CONNS
# connections in all, spread evenly.
FLEET_ROWS=""
ONE=""
for n in 1 2 3; do
  for i in $(seq 0 $((n - 1))); do start_member "$i"; done
  LOADS=()
  for i in $(seq 0 $((n - 1))); do
    wrk_get $((PORT + 10 + i)) $((CONNS / n)) "$WORK/fleet-$n-$i" &
    LOADS+=($!)
  done
  wait "${LOADS[@]}"
  total=0
  for i in $(seq 0 $((n - 1))); do
    ok "$WORK/fleet-$n-$i"
    total=$(python3 -c "print(round($total + $(rps "$WORK/fleet-$n-$i")))")
  done
  [ -n "$ONE" ] || ONE=$total
  FLEET_ROWS+="| $n | $((CONNS / n)) | $total | $(pct "$WORK/fleet-$n-0" 50%) | $(pct "$WORK/fleet-$n-0" 99%) | $(python3 -c "print(f'{$total/$ONE:.2f}')") |"$'\n'
  stop_fleet
done

# Part 3: a change through member 0 awaited on member 1, and by an agent
# subscribed to member 2 (TTL one hour: only a push refreshes it).
for i in 0 1 2; do start_member "$i"; done
M() { echo "http://127.0.0.1:$((PORT + 10 + $1))"; }
REACH=$("$BIN/coffer-bench" reach --writer "$(M 0)" --reader "$(M 1)" --count 200)
AGENT_PORT=$((PORT + 20))
printf 'log_level = "warn"\nttl_seconds = 3600\n' > "$WORK/agent.toml"
AWS_TOKEN=bench-fleet-token AWS_ENDPOINT_URL="$(M 2)" AWS_REGION=us-east-1 \
  "$BIN/coffer" agent --config "$WORK/agent.toml" --port $AGENT_PORT > /dev/null 2>&1 &
FLEET+=($!)
until curl -sf "http://127.0.0.1:$AGENT_PORT/ping" > /dev/null; do sleep 0.1; done
PUSHED=$(AWS_TOKEN=bench-fleet-token "$BIN/coffer-bench" push-latency --endpoint "$(M 0)" \
  --agent 127.0.0.1:$AGENT_PORT --count 200 | grep acknowledged_to_served)
stop_fleet

cat >> bench/FLEET_RESULTS.md <<MD

## $(date -u +%Y-%m-%d) — build $BUILD, $SECS s per point

$(nproc) cores, $(uname -m); wrk, coffer-bench, every server and PostgreSQL $(psql -tA "$ADMIN_URL" -c 'SHOW server_version' 2>/dev/null || echo '?') share the machine.

### One server on each store

GetSecretValue: 16 connections. PutSecretValue: 64 writers through the AWS SDK, each
cycling over its own 16 secrets, every write acknowledged once durable. Memory: the
server's anonymous memory after both.

| store | GetSecretValue req/s | p50 | p99 | PutSecretValue writes/s | write p50 / p99 | memory |
|---|---|---|---|---|---|---|
$STORE_ROWS
PostgreSQL / SQLite: reads ${RATIO_GET}×, writes ${RATIO_PUT}×.

### GetSecretValue through 1, 2 and 3 servers on one PostgreSQL database

$CONNS connections in all, spread evenly over the servers; p50/p99 of the first server.

| servers | connections each | req/s in all | p50 | p99 | × one server |
|---|---|---|---|---|---|
$FLEET_ROWS
### A change through one server, seen through another

200 changes of one secret through server 1, 20–50 ms apart; the other side
polled every millisecond, timed from the put's acknowledgement (the issue's
goal: within one second).

- served by server 2 (GetSecretValue): $REACH
- served by \`coffer agent\` subscribed to server 3: $PUSHED
MD
tail -n 30 bench/FLEET_RESULTS.md
