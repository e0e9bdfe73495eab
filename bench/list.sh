#!/usr/bin/env bash
# ListSecrets in a large account: a page of 100 with several filters and orders,
# a page deep in the walk, and the whole walk, with GetSecretValue timed in the
# same run as the reference. The account is filled in the database directly
# (copies of one real secret made through the API: same ciphertext, a name,
# tag and description each), so filling 100,000 secrets takes seconds.
# Writes bench/LIST_RESULTS.md (appends one section per run).
#
# Usage: bench/list.sh [count, default 100000] [sqlite|postgres, default sqlite]
#   PROFILE=bench-release (default) or PROFILE=dev for a quick look.
#   postgres: COFFER_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)
#   names the server whose database coffer_bench_list is made (and dropped) on.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-100000}"
STORE="${2:-sqlite}"
PORT=18870
DB=coffer_bench_list
export AWS_ACCESS_KEY_ID=AKIABENCHLISTBENCH00 AWS_SECRET_ACCESS_KEY=bench-list-secret
. bench/lib.sh

start_server
"$BIN/coffer-bench" seed --endpoint "http://127.0.0.1:$PORT" --name template --value "$(head -c 150 /dev/urandom | base64 -w0)"
stop_server

# Copies of the template: name app/svc-I/db, tag team=team-(I mod 10),
# description "database of shard sNNNx" with NNN = I mod 1000.
FILL_SECRETS="INSERT INTO secrets (account_id, region, name, arn, description, kms_key_id, kind,
    created_ms, last_changed_ms, last_accessed_ms, deleted_ms, purge_after_ms, tags, attrs, revision)
  SELECT account_id, region, 'app/svc-' || i || '/db', arn || '-' || i,
    'database of shard s' || (i % 1000) || 'x', kms_key_id, kind, created_ms + i, last_changed_ms + i,
    NULL, NULL, NULL, '[[\"team\",\"team-' || (i % 10) || '\"]]', attrs, 1
  FROM secrets, N WHERE name = 'template';"
FILL_VERSIONS="INSERT INTO versions (secret_id, version_id, seq, created_ms, last_accessed_ms, labels,
    value_kind, kms_key_id, wrapped_data_key, ciphertext)
  SELECT s.id, v.version_id, v.seq, v.created_ms, NULL, v.labels, v.value_kind, v.kms_key_id,
    v.wrapped_data_key, v.ciphertext
  FROM secrets s, versions v, secrets t
  WHERE t.name = 'template' AND v.secret_id = t.id AND s.name LIKE 'app/svc-%';"
# Their entries in the word index, as the server would write them (see
# crates/store/src/words.rs): each text whole and each of its words, lowercased.
term() { echo "SELECT s.account_id, s.region, '$1', $2, s.id FROM N JOIN secrets s ON s.name = 'app/svc-' || N.i || '/db'"; }
FILL_WORDS="INSERT INTO secret_words (account_id, region, field, word, secret_id)
  $(term n "'app/svc-' || i || '/db'") UNION ALL $(term n "'app'") UNION ALL $(term n "'svc'")
  UNION ALL $(term n "CAST(i AS TEXT)") UNION ALL $(term n "'db'")
  UNION ALL $(term d "'database of shard s' || (i % 1000) || 'x'") UNION ALL $(term d "'database'")
  UNION ALL $(term d "'of'") UNION ALL $(term d "'shard'") UNION ALL $(term d "'s'")
  UNION ALL $(term d "CAST(i % 1000 AS TEXT)") UNION ALL $(term d "'x'")
  UNION ALL $(term k "'team'") UNION ALL $(term v "'team-' || (i % 10)") UNION ALL $(term v "'team'")
  UNION ALL $(term v "CAST(i % 10 AS TEXT)")"
T0=$(date +%s.%N)
if [ "$STORE" = postgres ]; then
  psql -q "$DB_URL" -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TEMP TABLE N AS SELECT generate_series(1, $COUNT) AS i;
$FILL_SECRETS
$FILL_VERSIONS
$FILL_WORDS ON CONFLICT DO NOTHING;
SQL
  # What autovacuum does within a minute of such a fill (and keeps doing):
  # statistics, and the visibility map that lets index-only scans skip the
  # table. Without it the first minutes after a bulk load read the heap.
  psql -q "$DB_URL" -c "VACUUM ANALYZE" >/dev/null
else
  sqlite3 "$WORK/data/coffer.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
CREATE TEMP TABLE N AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $COUNT) SELECT i FROM c;
BEGIN;
$FILL_SECRETS
$FILL_VERSIONS
$FILL_WORDS ON CONFLICT DO NOTHING;
COMMIT;
ANALYZE;
SQL
fi
FILLED=$(printf '%.1f' "$(echo "$(date +%s.%N) - $T0" | bc)")
# 200 secrets made through the API (values sealed to each), then a restart: the
# first read of each comes from the store, at this account's size.
start_server
"$BIN/coffer-bench" seed-many --endpoint "http://127.0.0.1:$PORT" --prefix app/read- --count 200
stop_server
start_server

{
  echo
  echo "## $(date -u +%Y-%m-%d) — $COUNT secrets, $STORE store, build $BUILD"
  echo
  echo "$(nproc) cores; filled in $FILLED s; p50 of 20 tries each, one client."
  echo
  "$BIN/coffer-bench" list-latency --endpoint "http://127.0.0.1:$PORT" --get-id template --fresh-prefix app/read-
} | tee -a bench/LIST_RESULTS.md
