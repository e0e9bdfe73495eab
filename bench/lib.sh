# Shared by the benchmark scripts that start their own server on either store
# (sourced, not run). Before sourcing, set STORE (sqlite|postgres), PORT, DB
# (the PostgreSQL database's name) and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
# Gives BIN, BUILD (a label for the results), WORK, DB_URL, start_server and
# stop_server; cleans up on exit (KEEP_DB=1 keeps the database, and the
# SQLite store's work directory, for a look at query plans).
PROFILE="${PROFILE:-bench-release}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --profile "$PROFILE" -q -p coffer -p coffer-bench
case "$PROFILE" in
  dev) BIN="$CARGO_TARGET_DIR/debug"; BUILD="\`dev\` (debug build: opt-level 1, dependencies opt-level 2)" ;;
  *) BIN="$CARGO_TARGET_DIR/$PROFILE"; BUILD="\`$PROFILE\`" ;;
esac
WORK="$(mktemp -d)"
export AWS_REGION=us-east-1
export COFFER_ROOT_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
ADMIN_URL="${COFFER_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_URL="${ADMIN_URL%/*}/$DB"
PID=""

drop_db() { psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1; }
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true
  if [ -n "${KEEP_DB:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
  [ "$STORE" = postgres ] && [ -z "${KEEP_DB:-}" ] && drop_db
  true
}
trap cleanup EXIT
if [ "$STORE" = postgres ]; then
  drop_db
  psql -q "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null
fi

# A dev server on $PORT over $WORK/data (and $DB_URL with postgres); sets PID.
start_server() {
  local args=(server --dev --log-level warn --root-key env --data-dir "$WORK/data" --listen 127.0.0.1:$PORT)
  [ "$STORE" = postgres ] && args+=(--database-url "$DB_URL")
  COFFER_DEV_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID COFFER_DEV_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    "$BIN/coffer" "${args[@]}" > "$WORK/env" 2>"$WORK/log" &
  PID=$!
  until grep -q AWS_DEFAULT_REGION "$WORK/env" 2>/dev/null; do sleep 0.2; done
}
stop_server() { kill "$PID"; wait "$PID" || true; PID=""; }
