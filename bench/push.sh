#!/usr/bin/env bash
# Pushed refresh latency: how soon after a PutSecretValue the Coffer agent in front
# of a Coffer server serves the new value. The agent subscribes to the server's
# change stream and caches for an hour, so only a push can refresh it;
# `coffer-bench push-latency` changes one secret COUNT times (50 ms apart) and polls
# the agent every millisecond over one keep-alive connection until it serves each
# new value. Prints p50/p99/max from the PutSecretValue being sent, and from its
# acknowledgement. The README's claim: fresh in the agent's cache within a second.
# Writes bench/PUSH_RESULTS.md.
#
# Usage: bench/push.sh [count, default 200]
#   PROFILE=bench-release (default; optimised, no debug info) or PROFILE=dev for a
#   quick look with debug binaries (slower, and labelled so in the results).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-200}"
PROFILE="${PROFILE:-bench-release}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --profile "$PROFILE" -q -p coffer -p coffer-bench
case "$PROFILE" in dev) BIN="$CARGO_TARGET_DIR/debug" ;; *) BIN="$CARGO_TARGET_DIR/$PROFILE" ;; esac
WORK="$(mktemp -d)"
SRV_PORT=18860; AGENT_PORT=18861
export AWS_ACCESS_KEY_ID=AKIABENCHPUSHBENCH00 AWS_SECRET_ACCESS_KEY=bench-push-secret AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:$SRV_PORT AWS_TOKEN=bench-ssrf-token
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

COFFER_DEV_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID COFFER_DEV_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$BIN/coffer" server --dev --log-level warn --data-dir "$WORK/data" --listen 127.0.0.1:$SRV_PORT > "$WORK/env" 2>/dev/null &
PIDS+=($!)
until grep -q AWS_DEFAULT_REGION "$WORK/env" 2>/dev/null; do sleep 0.2; done
printf 'log_level = "warn"\nttl_seconds = 3600\n' > "$WORK/agent.toml"
"$BIN/coffer" agent --config "$WORK/agent.toml" --port $AGENT_PORT > /dev/null 2>&1 &
PIDS+=($!)
until curl -sf "http://127.0.0.1:$AGENT_PORT/ping" > /dev/null; do sleep 0.1; done

case "$PROFILE" in
  dev) BUILD="\`dev\` (this workspace's debug build: opt-level 1, dependencies opt-level 2), not an optimised build" ;;
  *) BUILD="\`$PROFILE\`" ;;
esac
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
OUT=$("$BIN/coffer-bench" push-latency --endpoint "$AWS_ENDPOINT_URL" --agent 127.0.0.1:$AGENT_PORT --count "$COUNT")

cat > bench/PUSH_RESULTS.md <<MD
# Pushed refresh latency

Run by \`PROFILE=$PROFILE bench/push.sh $COUNT\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m);
the server, the agent and the benchmark client share the machine (load average
before the run: $LOAD). Build profile: $BUILD.

Time from a PutSecretValue until \`coffer agent\` (TTL one hour, subscribed to the
server's change stream) serves the new value, over $COUNT changes of one secret 50 ms
apart; the agent is polled every millisecond, so figures are good to about 1 ms.
\`sent_to_served\` starts when the PutSecretValue is sent (it includes the write's
own durable commit), \`acknowledged_to_served\` when the writer has its answer.

    $(sed 's/^/    /; 1s/^    //' <<< "$OUT")

Goal (README): a changed secret is fresh in the agent's cache within a second.
MD
cat bench/PUSH_RESULTS.md
