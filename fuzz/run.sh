#!/usr/bin/env bash
# A short coverage-guided run of every fuzz target from its seed corpus, as CI
# does it: FUZZ_SECONDS per target (default 20); any crash fails the run and
# leaves its input in fuzz/artifacts/. For a longer hunt:
#   cd fuzz && cargo +nightly fuzz run json_ops corpus/json_ops -- -max_total_time=3600
# Needs cargo-fuzz (installed here when missing) and libFuzzer's compiler flags:
# a nightly toolchain if there is one (with AddressSanitizer), else the stable
# one told to accept them (RUSTC_BOOTSTRAP=1, no sanitizer).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${COFFER_FUZZ_TARGET_DIR:-/var/tmp/coffer-fuzz-target}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
  sanitizer=()
else
  toolchain=()
  sanitizer=(--sanitizer none)
  export RUSTC_BOOTSTRAP=1
fi
secs="${FUZZ_SECONDS:-20}"
# New inputs go to a scratch directory: the checked-in seeds stay as they are.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in sigv4 json_ops query policy; do
  mkdir -p "$work/$t"
  echo "fuzz: $t for ${secs}s"
  if ! cargo "${toolchain[@]}" fuzz run "${sanitizer[@]}" "$t" "$work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 >"$work/$t.log" 2>&1; then
    tail -n 60 "$work/$t.log"
    echo "fuzz: $t failed; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E '^Done' "$work/$t.log" || true
done
