#!/usr/bin/env bash
# Benchmarks: rekey against a plain sequential rotator at realistic API latency, and at scale.
# Builds rekey and rekey-bench (release), then runs the scenarios (default: all of P1–P5 and L) with
# scripts/bench/harness.py, each side alternating with its baseline for $PAIRS pairs; prints
# per-pair figures, medians and ratios, and writes them as Markdown to $BENCH_OUT
# (default bench-out/results-DATE.md). See BENCHMARKS.md.
#
# Usage: scripts/bench.sh [P1 P1M P2 P3 P4 P5 L API ROUTES R …]
# Sizes (defaults in brackets): PAIRS [5]; P1 (through the model of real AWS): P1_USERS [1000],
#   P1_CONCURRENCIES [8,32,128,512], P1_D15_CONCURRENCY [128] (0: no run with D = 15 s), P1_SCRIPT_SAMPLE [20]
#   and P1_SCRIPT_SAMPLE_D15 [5] (keys the safe sequential script rotates, extrapolated to P1_USERS);
#   P1M (moto only, regression figure): SHIM_DELAY_MS [50], P1M_USERS [300], P1M_CONCURRENCY [256];
#   P2_USERS [1000], P2_CONCURRENCY [256], P3_USERS [2000], P4_ACCOUNTS [10000], P5_TOTAL [100000],
#   P5_SMALL [1000], P5_DUE [100], P5_CONCURRENCY [32]; L (the server under load): L_ACCOUNTS [1000],
#   L_REQUESTS [1000] per burst, L_ROUNDS [5], L_PAIRS [1], L_CONCURRENCY [64] (scheduler),
#   L_HEARTBEAT_ACCOUNTS [20], L_TIMEOUT [600] s (after each API burst, the heartbeats' IAM calls straight to
#   moto: their floor); ROUTES (server CPU per request of each route of L's API mix, wrk): ROUTES_ACCOUNTS [1000],
#   ROUTES_SECONDS [5], ROUTES_CONNECTIONS [8]; API (authenticated reads beside /healthz, wrk):
#   API_ACCOUNTS [100000], API_SECONDS [10] per endpoint, API_CONNECTIONS [64,8] (a comma list: each endpoint at each), API_THREADS [2]; R (the
#   compliance report through the CLI and the API, every user managed): R_USERS [10000].
#   REKEY=/path/to/rekey skips building rekey.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_moto
python3 -c 'import boto3' >/dev/null 2>&1 || python3 -m pip install --quiet boto3
command -v aws >/dev/null 2>&1 || python3 -m pip install --quiet awscli
if ! command -v wrk >/dev/null 2>&1; then
  step "installing wrk"
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
fi
if ! command -v sqlite3 >/dev/null 2>&1; then
  step "installing sqlite3"
  apt-get install -y -qq sqlite3 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq sqlite3; }
fi

TARGET=${CARGO_TARGET_DIR:-target}
step "building rekey and rekey-bench (release)"
if [[ -z "${REKEY:-}" ]]; then
  cargo build --quiet --release -p rekey -p rekey-bench -p rekey-aws-model
  REKEY="$TARGET/release/rekey"
else
  cargo build --quiet --release -p rekey-bench -p rekey-aws-model
fi
export REKEY=$(realpath "$REKEY") REKEY_BENCH=$(realpath "$TARGET/release/rekey-bench")
export REKEY_AWS_MODEL=$(realpath "$TARGET/release/rekey-aws-model")

export PAIRS=${PAIRS:-5} P1_USERS=${P1_USERS:-1000} P1M_USERS=${P1M_USERS:-300} P2_USERS=${P2_USERS:-1000} P3_USERS=${P3_USERS:-2000}
export P4_ACCOUNTS=${P4_ACCOUNTS:-10000} P5_TOTAL=${P5_TOTAL:-100000} P5_SMALL=${P5_SMALL:-1000}
mkdir -p bench-out
export BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/rekey-bench.XXXXXX")
export BENCH_OUT=${BENCH_OUT:-$PWD/bench-out/results-$(date -u +%Y%m%dT%H%M%SZ).md}
trap 'rm -rf "$BENCH_WORK"' EXIT

{
  echo "## Run of $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Command: \`$(env | grep -E '^(PAIRS|SHIM_DELAY_MS|P[1-5]M?_[A-Z0-9_]+|L_[A-Z_]+|API_[A-Z_]+|R_USERS)=' | sort | tr '\n' ' ')scripts/bench.sh $*\`"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr);" \
    "moto $(python3 -c 'import moto; print(moto.__version__)'), boto3 $(python3 -c 'import boto3; print(boto3.__version__)')," \
    "$(sqlite3 --version | cut -d' ' -f1 | sed 's/^/sqlite3 /'), $(aws --version 2>&1 | cut -d' ' -f1);" \
    "rekey $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.lock || echo ' + uncommitted changes'), release build."
} | tee "$BENCH_OUT"

start=$SECONDS
python3 scripts/bench/harness.py "$@"
echo
echo "[time] benchmarks: $((SECONDS - start)) s; results in $BENCH_OUT"
