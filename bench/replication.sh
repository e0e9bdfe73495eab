#!/usr/bin/env bash
# The cost of multi-Region replication on writes: PutSecretValue writes per
# second on secrets that are not replicated (the reference) and on secrets each
# replicated to another region of the same server, measured in the same run on
# the same server; and how long after the last write every replica serves its
# secret's last value. Writes bench/REPLICATION_RESULTS.md.
#
# Usage: bench/replication.sh [seconds per run, default 10]
#   PROFILE=bench-release (default) or PROFILE=dev (debug binaries, labelled so).
#   STORE=sqlite (default) or STORE=postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-10}"
STORE="${STORE:-sqlite}"; PORT=18870; DB=coffer_bench_replication
export AWS_ACCESS_KEY_ID=AKIABENCHREPLICATION AWS_SECRET_ACCESS_KEY=bench-replication-secret
. bench/lib.sh
start_server
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
run() { "$BIN/coffer-bench" replicated-put --endpoint "http://127.0.0.1:$PORT" --seconds "$SECONDS_PER_RUN" "$@"; }
PLAIN=$(run)
REPLICATED=$(run --replicate-to us-west-2)
PLAIN_AGAIN=$(run)
rate() { sed -n 's/.*writes_per_sec=\([0-9]*\).*/\1/p' <<< "$1"; }
RATIO=$(awk -v r="$(rate "$REPLICATED")" -v a="$(rate "$PLAIN")" -v b="$(rate "$PLAIN_AGAIN")" \
  'BEGIN { printf "%.2f", r / ((a + b) / 2) }')
stop_server

cat > bench/REPLICATION_RESULTS.md <<MD
# Replication's cost on writes

Run by \`STORE=$STORE PROFILE=$PROFILE bench/replication.sh $SECONDS_PER_RUN\` on $(date -u +%Y-%m-%d),
$(nproc) cores, $(uname -m); server and client share the machine (load average before
the run: $LOAD). Build: $BUILD. Store: $STORE.

16 writers through the AWS SDK for Rust, each cycling over its own 4 secrets, for
$SECONDS_PER_RUN s per run. The reference is the same load on secrets that are not
replicated, run before and after (its mean is the denominator). In the replicated run
each secret has a replica in us-west-2 of the same server, kept in step by the
replicator (on this, the leading, server): every write is followed by a copy, a
status check and, when the status changes, a status write. \`catch_up_ms\` is the time
from the last write's answer until every replica serves its secret's last value.
The replicator copies each changed secret once per pass over the outbox, however many
times it changed since the last pass, so under load it makes fewer copies than there
are writes; with few writers the replica writes approach one per write.

    reference:   $PLAIN
    replicated:  $REPLICATED
    reference:   $PLAIN_AGAIN

Replicated writes per second as a ratio of the reference: **$RATIO×**.
MD
cat bench/REPLICATION_RESULTS.md
