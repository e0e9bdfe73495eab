#!/usr/bin/env bash
# The Coffer agent against the AWS Secrets Manager Agent (installed from crates.io),
# both in front of the same Coffer server, in one run:
#   - cache-hit requests/s and p50/p99 at 1, 16 and 256 connections (wrk);
#   - resident memory with 1,000 cached secrets;
#   - the Coffer agent's time until ready with 200 pre-fetched secrets (the AWS
#     agent has no pre-fetch).
# Writes bench/AGENT_RESULTS.md. Usage: bench/agent.sh [seconds-per-point, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
AWS_AGENT_ROOT="${AWS_AGENT_ROOT:-/var/tmp/aws-agent}"
AWS_AGENT="$AWS_AGENT_ROOT/bin/aws_secretsmanager_agent"
[ -x "$AWS_AGENT" ] || cargo install -q aws_secretsmanager_agent --root "$AWS_AGENT_ROOT"
cargo build --release -q -p coffer -p coffer-bench
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
SRV_PORT=18850; OURS=18851; THEIRS=18852
export AWS_ACCESS_KEY_ID=AKIABENCHAGENTBENCH0 AWS_SECRET_ACCESS_KEY=bench-agent-secret AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:$SRV_PORT AWS_TOKEN=bench-ssrf-token
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

COFFER_DEV_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID COFFER_DEV_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$BIN/coffer" server --dev --log-level warn --data-dir "$WORK/data" --listen 127.0.0.1:$SRV_PORT > "$WORK/env" 2>/dev/null &
PIDS+=($!)
until grep -q AWS_DEFAULT_REGION "$WORK/env" 2>/dev/null; do sleep 0.2; done
"$BIN/coffer-bench" seed-many --endpoint "$AWS_ENDPOINT_URL" --prefix bench/s --count 1000

cat > "$WORK/ours.toml" <<TOML
log_level = "warn"
ttl_seconds = 3600
cache_size = 1000
TOML
cat > "$WORK/theirs.toml" <<TOML
log_level = "warn"
log_to_file = false
http_port = "$THEIRS"
ttl_seconds = "3600"
cache_size = "1000"
validate_credentials = false
TOML
"$BIN/coffer" agent --config "$WORK/ours.toml" --port $OURS > /dev/null 2>&1 &
OURS_PID=$!; PIDS+=($OURS_PID)
(cd "$WORK" && exec "$AWS_AGENT" --config "$WORK/theirs.toml") > /dev/null 2>&1 &
THEIRS_PID=$!; PIDS+=($THEIRS_PID)
for p in $OURS $THEIRS; do until curl -sf "http://127.0.0.1:$p/ping" > /dev/null; do sleep 0.1; done; done

HDR="X-Aws-Parameters-Secrets-Token: $AWS_TOKEN"
for p in $OURS $THEIRS; do curl -sf -H "$HDR" "http://127.0.0.1:$p/v1/bench/s0" > /dev/null; done
run_wrk() { # port connections -> "rps p50 p99"
  local threads=$(( $2 < 2 ? 1 : 2 )) out
  out=$(wrk -t$threads -c$2 -d${SECS}s --latency -H "$HDR" "http://127.0.0.1:$1/v1/bench/s0" 2>&1)
  if grep -q "Non-2xx" <<< "$out"; then echo "non-2xx answers from port $1:" >&2; echo "$out" >&2; exit 1; fi
  echo "$(awk '/Requests\/sec/ {print $2}' <<< "$out") $(awk '$1=="50%" {print $2}' <<< "$out") $(awk '$1=="99%" {print $2}' <<< "$out")"
}
ROWS=""
for c in 1 16 256; do
  read -r ors op50 op99 < <(run_wrk $OURS $c)
  read -r trs tp50 tp99 < <(run_wrk $THEIRS $c)
  ratio=$(python3 -c "print(f'{$ors/$trs:.2f}x')")
  ROWS+="| $c | $ors | $op50 | $op99 | $trs | $tp50 | $tp99 | $ratio |"$'\n'
done

# Resident memory once each agent holds all 1,000 secrets.
for p in $OURS $THEIRS; do
  for i in $(seq 0 999); do printf 'url = "http://127.0.0.1:%s/v1/bench/s%d"\noutput = "/dev/null"\n' "$p" "$i"; done > "$WORK/urls-$p"
  curl -s -K "$WORK/urls-$p" -H "$HDR"
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
ORSS=$(rss $OURS_PID); TRSS=$(rss $THEIRS_PID)

# Time until ready with 200 secrets pre-fetched (Coffer agent only).
{ echo "[capabilities.secrets_manager.prefetch]"; printf 'secrets = ['; for i in $(seq 0 199); do printf '{ secret_id = "bench/s%d" },' "$i"; done; echo ']'; } > "$WORK/prefetch.toml"
START=$(date +%s%N)
"$BIN/coffer" agent --config "$WORK/prefetch.toml" --port 18853 > /dev/null 2>&1 &
PIDS+=($!)
until curl -sf "http://127.0.0.1:18853/ready" > /dev/null; do sleep 0.005; done
READY_MS=$(( ($(date +%s%N) - START) / 1000000 ))

cat > bench/AGENT_RESULTS.md <<MD
# Agent benchmark

Run by \`bench/agent.sh $SECS\` on $(date -u +%Y-%m-%d), $(nproc) cores; wrk, both agents and
the Coffer server they read from share the machine. Release build of \`coffer agent\`;
\`aws_secretsmanager_agent\` $("$AWS_AGENT" --version 2>/dev/null | head -1 || echo "from crates.io").

## Cache hits (GET /v1/NAME, SSRF token)

| connections | coffer req/s | p50 | p99 | AWS agent req/s | p50 | p99 | coffer / AWS |
|---|---|---|---|---|---|---|---|
$ROWS
Goal: ≥ 1.5× the AWS agent's throughput, lower p99.

## Resident memory with 1,000 cached secrets (200-byte values)

| coffer agent | AWS agent |
|---|---|
| $ORSS KiB | $TRSS KiB |

## Time until ready with 200 pre-fetched secrets

Coffer agent, process start to \`GET /ready\` = 200: **$READY_MS ms** (goal: under 300 ms).
The AWS agent has no pre-fetch.
MD
cat bench/AGENT_RESULTS.md
