#!/usr/bin/env bash
# Every check and every test: formatting, clippy (warnings are errors), unit, contract and
# end-to-end tests, the web console's in headless chromium. Installs what it needs (moto's server
# for the AWS emulator; chromium, Node.js and the browser tests' npm packages).
# PostgreSQL tests run when REKEY_TEST_POSTGRES_URL is set (.ci/run always sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_moto
ensure_rust_tools
ensure_browser_tools

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, -D warnings)"
timed clippy cargo clippy --workspace --all-targets --all-features -- -D warnings

if [ -n "${REKEY_TEST_POSTGRES_URL:-}" ]; then
  echo "PostgreSQL tests: on (${REKEY_TEST_POSTGRES_URL%%\?*})"
else
  echo "PostgreSQL tests: off (set REKEY_TEST_POSTGRES_URL to run them)"
fi

step "build tests"
timed build cargo build --workspace --all-targets --all-features

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  timed tests cargo nextest run --workspace --all-features --no-fail-fast
else
  timed tests cargo test --workspace --all-features --no-fail-fast
fi
