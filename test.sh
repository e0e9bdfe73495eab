#!/usr/bin/env bash
# Runs every test: the Rust unit and integration tests (real server, AWS SDK for
# Rust), then the end-to-end suite (boto3 and the aws CLI against the real binary).
# Installs the Python packages it needs into .venv on first use.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

if [ ! -x .venv/bin/pytest ] || ! .venv/bin/python -c "import boto3, awscli" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
fi

cargo build --quiet -p coffer --bin coffer
cargo test --workspace
COFFER_BIN="$CARGO_TARGET_DIR/debug/coffer" PATH="$PWD/.venv/bin:$PATH" .venv/bin/pytest -q e2e
