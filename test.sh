#!/usr/bin/env bash
# Runs every test: the Rust unit and integration tests (real server, AWS SDK for
# Rust), then the end-to-end suite (boto3 and the aws CLI against the real binary).
# Installs the Python packages it needs into .venv on first use.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

if [ ! -x .venv/bin/pytest ] || ! .venv/bin/python -c "import boto3, awscli, playwright" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
fi

# The PostgreSQL store's tests need a PostgreSQL server (COFFER_TEST_DATABASE_URL,
# by default postgres://postgres@127.0.0.1:5432/postgres): start the local one
# if it is not running, install it if there is none.
if [ -z "${COFFER_TEST_DATABASE_URL:-}" ] && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432
fi

# The NATS targets' test needs a NATS server with JetStream on 127.0.0.1:4222:
# start the local one if none listens, install it if there is none.
# openssl makes the TLS NATS test's certificates.
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if ! nats_up; then
  command -v nats-server >/dev/null || { apt-get update -qq && apt-get install -y -qq nats-server >/dev/null; }
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 1 30); do nats_up && break; sleep 1; done
  nats_up
fi

# The console's browser test drives Debian's Chromium (Playwright, from .venv,
# launches it by path: no browser download).
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# The MySQL rotators' tests run a MariaDB server of their own.
command -v mariadbd >/dev/null || { apt-get update -qq && apt-get install -y -qq mariadb-server >/dev/null; }

cargo build --quiet -p coffer --bin coffer
cargo test --workspace
COFFER_BIN="$CARGO_TARGET_DIR/debug/coffer" PATH="$PWD/.venv/bin:$PATH" .venv/bin/pytest -q e2e
