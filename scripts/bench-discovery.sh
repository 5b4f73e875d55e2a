#!/usr/bin/env bash
# Measures discovery of N IAM users (default 10000) on moto: the credential-report path versus
# the per-user path, in API calls and wall time, in the same run. Prints a Markdown table.
# Usage: scripts/bench-discovery.sh [USERS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
USERS=${1:-10000}

ensure_moto
cargo build --quiet --release -p rekey
REKEY="${CARGO_TARGET_DIR:-target}/release/rekey"
WORK=$(mktemp -d)
trap 'stop_moto; rm -rf "$WORK"' EXIT
start_moto
export REKEY_VAULT="sqlite:$WORK/vault.db" REKEY_PASSPHRASE="bench-passphrase" AWS_ACCESS_KEY_ID=testing \
  AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

step "seeding $USERS users (a third with a key, a fifth with a console password)"
MOTO_URL="$MOTO_URL" USERS="$USERS" WORK="$WORK" python3 - <<'PY'
import boto3, json, os
from concurrent.futures import ThreadPoolExecutor
iam = boto3.client("iam", endpoint_url=os.environ["MOTO_URL"], region_name="us-east-1")
n = int(os.environ["USERS"])
def seed(i):
    u = f"user-{i:05d}"
    iam.create_user(UserName=u)
    if i % 3 == 0:
        iam.create_access_key(UserName=u)
    if i % 5 == 0:
        iam.create_login_profile(UserName=u, Password=f"Pw-{i}-Initial!")
with ThreadPoolExecutor(8) as ex:
    list(ex.map(seed, range(n)))
iam.create_user(UserName="bench-admin")
k = iam.create_access_key(UserName="bench-admin")["AccessKey"]
json.dump([k["AccessKeyId"], k["SecretAccessKey"]], open(os.environ["WORK"] + "/admin.json", "w"))
PY
"$REKEY" init 2>/dev/null
ID=$(python3 -c "import json; print(json.load(open('$WORK/admin.json'))[0])")
python3 -c "import json,sys; sys.stdout.write(json.load(open('$WORK/admin.json'))[1])" |
  "$REKEY" provider add bench --region us-east-1 --endpoint-url "$MOTO_URL" --access-key-id "$ID" --secret-stdin >/dev/null

measure() { # measure LABEL ARGS… → prints "LABEL|users|calls|seconds"
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$REKEY" discover bench "$@" --output json > "$WORK/out.json"
  end=$(date +%s.%N)
  python3 - "$label" "$start" "$end" "$WORK/out.json" <<'PY'
import json, sys
label, start, end, path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
d = json.load(open(path))[0]
print(f"{label}|{len(d['users'])}|{d['api_calls']}|{end - start:.1f}")
PY
}
step "discovering"
REPORT=$(measure credential-report)
PER_USER=$(measure per-user --per-user)
echo
echo "| path | users | API calls | wall time (s) |"
echo "| --- | --- | --- | --- |"
for row in "$REPORT" "$PER_USER"; do IFS='|' read -r l u c t <<<"$row"; echo "| $l | $u | $c | $t |"; done
python3 - "$REPORT" "$PER_USER" <<'PY'
import sys
r, p = (x.split("|") for x in sys.argv[1:3])
print(f"\nper-user / credential-report: {int(p[2]) / int(r[2]):.0f}x the calls, {float(p[3]) / float(r[3]):.1f}x the time")
PY
