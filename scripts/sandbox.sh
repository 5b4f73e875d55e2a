#!/usr/bin/env bash
# The sandbox quick start: starts a local IAM emulator (moto), seeds a few IAM users with
# console passwords and access keys, and walks rekey through a real cycle against it with the
# embedded SQLite vault, printing each command. Nothing outside ./.sandbox is touched; the
# emulator is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_moto
ensure_rust_tools

step "building rekey"
cargo build --quiet -p rekey
REKEY="${CARGO_TARGET_DIR:-target}/debug/rekey"

SANDBOX="$PWD/.sandbox"
rm -rf "$SANDBOX"; mkdir -p "$SANDBOX"
MOTO_LOG="$SANDBOX/moto.log"
trap stop_moto EXIT
step "starting moto (IAM/STS emulator)"
start_moto
echo "moto listening on $MOTO_URL (pid $MOTO_PID)"

# The sandbox's own vault, passphrase and fake AWS credentials: never the user's real ones.
export REKEY_HOME="$SANDBOX" REKEY_VAULT="sqlite:$SANDBOX/vault.db" REKEY_PASSPHRASE="sandbox-passphrase-not-secret"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

step "seeding IAM: admin (rekey's provider), alice (console password), svc-ci and svc-deploy (access keys)"
MOTO_URL="$MOTO_URL" SANDBOX="$SANDBOX" python3 - <<'PY'
import boto3, json, os
iam = boto3.client("iam", endpoint_url=os.environ["MOTO_URL"], region_name="us-east-1")
for u in ["admin", "alice", "bob", "svc-ci", "svc-deploy"]:
    iam.create_user(UserName=u, Path="/sandbox/")
keys = {u: iam.create_access_key(UserName=u)["AccessKey"] for u in ["admin", "svc-ci"]}
iam.create_login_profile(UserName="alice", Password="Alice-Initial-1!")
iam.update_account_password_policy(MinimumPasswordLength=20, RequireSymbols=True, RequireNumbers=True,
                                   RequireUppercaseCharacters=True, RequireLowercaseCharacters=True)
for u, k in keys.items():
    with open(os.path.join(os.environ["SANDBOX"], f"{u}.key"), "w") as f:
        json.dump({"id": k["AccessKeyId"], "secret": k["SecretAccessKey"]}, f)
print("users:", ", ".join(u["UserName"] for u in iam.list_users()["Users"]))
PY
key_field() { python3 -c "import json,sys; print(json.load(open('$SANDBOX/$1.key'))['$2'])"; }

run() { printf '\n$ %s\n' "$*"; "$@"; }
run_stdin() { local input=$1; shift; printf '\n$ … | %s\n' "$*"; printf '%s' "$input" | "$@"; }

step "1. create the vault"
run "$REKEY" init

step "2. connect the emulated AWS account as provider 'sandbox'"
run_stdin "$(key_field admin secret)" "$REKEY" provider add sandbox --region us-east-1 \
  --endpoint-url "$MOTO_URL" --access-key-id "$(key_field admin id)" --secret-stdin
run "$REKEY" provider test sandbox

step "3. bring credentials under management"
run_stdin "Alice-Initial-1!" "$REKEY" account add --provider sandbox --user alice --kind password \
  --secret-stdin --folder people --name "Alice (console)"
run "$REKEY" account add --provider sandbox --user bob --kind password --folder people
run_stdin "$(key_field svc-ci secret)" "$REKEY" account add --provider sandbox --user svc-ci \
  --kind access-key --access-key-id "$(key_field svc-ci id)" --secret-stdin --folder ci
run "$REKEY" account add --provider sandbox --user svc-deploy --kind access-key --create --folder ci

step "4. what is managed"
run "$REKEY" account list
run "$REKEY" account list --folder ci --output json

step "5. rotation settings: the emulator propagates keys at once, so one verification suffices"
for acc in sandbox/svc-ci/access-key sandbox/svc-deploy/access-key; do
  run "$REKEY" account set "$acc" --verify-successes 1 --verify-backoff 200ms --every 90d \
    --previous-key delete --credentials-file "$SANDBOX/credentials" --profile "$(echo "$acc" | cut -d/ -f2)" --output json >/dev/null
done
run "$REKEY" account set sandbox/bob/password --create-login-profile --password-length 24

step "6. what a rotation would do (read-only)"
run "$REKEY" rotate --all --dry-run

step "7. rotate everything: create → tag → verify → deliver → commit → retire"
run "$REKEY" rotate --all
run "$REKEY" rotation list
printf '\n$ cat %s   (secrets masked here; the file has them)\n' "$SANDBOX/credentials"
sed 's/\(aws_secret_access_key = \).*/\1<secret>/' "$SANDBOX/credentials"

step "8. heartbeat: every stored credential still works, IAM has not drifted"
run "$REKEY" heartbeat --all

step "9. IAM agrees with the vault"
REVEALED=$("$REKEY" account reveal sandbox/alice/password)
MOTO_URL="$MOTO_URL" REVEALED="$REVEALED" python3 - <<'PY'
import json, os, urllib.request
state = json.load(urllib.request.urlopen(os.environ["MOTO_URL"] + "/moto-api/data.json"))
alice = next(u for u in state["iam"]["User"] if u["name"] == "alice")
ok = alice["password"] == os.environ["REVEALED"]
print("alice's console password in IAM equals the vault's:", "yes" if ok else "NO")
raise SystemExit(0 if ok else 1)
PY
for u in svc-ci svc-deploy; do
  printf '%s keys in IAM: ' "$u"
  MOTO_URL="$MOTO_URL" python3 -c "import boto3,os; print(' '.join(k['AccessKeyId']+'('+k['Status']+')' for k in boto3.client('iam',endpoint_url=os.environ['MOTO_URL'],region_name='us-east-1').list_access_keys(UserName='$u')['AccessKeyMetadata']))"
done

step "10. the scheduler's entry point (what cron or a systemd timer runs)"
run "$REKEY" run-due --once

step "10b. delivery where keys are used: GitHub Actions secrets (a local fake of GitHub's API, which opens the sealed values)"
cargo build --quiet -p rekey-fakes
FAKES="${CARGO_TARGET_DIR:-target}/debug/rekey-fakes"
(umask 077; printf 'sandbox-github-token\n' > "$SANDBOX/github.token")
"$FAKES" --dir "$SANDBOX" --token-file "$SANDBOX/github.token" --github-port "$(free_port)" >"$SANDBOX/fakes.json" 2>"$SANDBOX/fakes.log" &
FAKES_PID=$!
trap 'kill "$FAKES_PID" 2>/dev/null || true; stop_moto' EXIT
for _ in $(seq 1 100); do [ -s "$SANDBOX/fakes.json" ] && break; sleep 0.1; done
GITHUB_URL=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['github'])" "$SANDBOX/fakes.json")
echo "fake GitHub API on $GITHUB_URL (pid $FAKES_PID); token in $SANDBOX/github.token (never stored by rekey)"
run "$REKEY" account set sandbox/svc-ci/access-key --github-repo acme/deploy --github-environment production \
  --github-api-url "$GITHUB_URL" --github-token-file "$SANDBOX/github.token" --output json
run "$REKEY" rotate sandbox/svc-ci/access-key
REVEALED=$("$REKEY" account reveal sandbox/svc-ci/access-key --output json)
for _ in $(seq 1 50); do grep -q AWS_SECRET_ACCESS_KEY "$SANDBOX/github.json" 2>/dev/null && break; sleep 0.1; done
REVEALED="$REVEALED" python3 - "$SANDBOX/github.json" <<'PY'
import json, os, sys
vault = json.loads(os.environ["REVEALED"])
held = {s["name"]: s["value"] for s in json.load(open(sys.argv[1])) if s["holder"] == "acme/deploy:production"}
mask = lambda v: v[:4] + "…" + v[-2:]
print("GitHub secrets of acme/deploy, environment production (opened by the fake):")
for name, value in sorted(held.items()):
    print(f"  {name} = {mask(value)}")
ok = held.get("AWS_ACCESS_KEY_ID") == vault["access_key_id"] and held.get("AWS_SECRET_ACCESS_KEY") == vault["secret"]
print("they equal the vault's current key:", "yes" if ok else "NO")
raise SystemExit(0 if ok else 1)
PY
kill "$FAKES_PID"; wait "$FAKES_PID" 2>/dev/null || true
trap stop_moto EXIT

step "11. discovery at scale: a second emulated account, a few hundred users across both"
FIRST_URL="$MOTO_URL"
start_moto
SECOND_URL="$MOTO_URL"
echo "second moto listening on $SECOND_URL (pid $MOTO_PID)"
FIRST_URL="$FIRST_URL" SECOND_URL="$SECOND_URL" SANDBOX="$SANDBOX" python3 - <<'PY'
import boto3, json, os
for url, prefix, n in [(os.environ["FIRST_URL"], "app", 150), (os.environ["SECOND_URL"], "team", 150)]:
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
    for i in range(n):
        u = f"{prefix}-{i:03d}"
        iam.create_user(UserName=u, Path=f"/{prefix}/")
        if i % 3 == 0:
            iam.create_access_key(UserName=u)
        if i % 5 == 0:
            iam.create_login_profile(UserName=u, Password=f"Initial-{i}-Pw!")
        if i % 10 == 0:
            iam.tag_user(UserName=u, Tags=[{"Key": "rekey:owner", "Value": f"owner-{i % 4}"}])
        if i % 50 == 7:
            iam.tag_user(UserName=u, Tags=[{"Key": "rekey:exempt", "Value": "true"}])
    if prefix == "team":
        iam.create_user(UserName="admin2")
        k = iam.create_access_key(UserName="admin2")["AccessKey"]
        json.dump({"id": k["AccessKeyId"], "secret": k["SecretAccessKey"]}, open(os.environ["SANDBOX"] + "/admin2.key", "w"))
print("seeded 300 users")
PY
run_stdin "$(key_field admin2 secret)" "$REKEY" provider add second --region us-east-1 \
  --endpoint-url "$SECOND_URL" --access-key-id "$(key_field admin2 id)" --secret-stdin --output json >/dev/null
printf '\n$ %s\n' "$REKEY discover --all --output csv | head -8"
"$REKEY" discover --all --output csv | head -8
run "$REKEY" discover --all --import --kind access-key --filter 'team-*' --folder imported --output csv

step "12. compliance report (HTML, self-contained, with charts)"
set +e
run "$REKEY" report --format html --out "$SANDBOX/report.html"
echo "(exit $? — 9 means findings exist, as expected for freshly imported credentials)"
set -e
echo "open $SANDBOX/report.html in a browser"

step "13. the least-privilege policy for what is configured"
run "$REKEY" policy --provider sandbox

step "14. the audit trail (hash-chained) and its verification"
run "$REKEY" audit list --output csv
run "$REKEY" audit verify

step "15. the server: API tokens, rekey serve, the REST API, check-out/check-in, SIEM export, metrics, a clean stop"
ADMIN_TOKEN=$("$REKEY" token create --role admin --name sandbox-admin --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
AUDITOR_TOKEN=$("$REKEY" token create --role auditor --name sandbox-auditor --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
run "$REKEY" token list
SERVER_PORT=$(free_port)
rm -f "$SANDBOX/audit.jsonl"
cat > "$SANDBOX/serve.toml" <<EOF
# Export rotation and account events of the audit log as JSON lines (a SIEM would read them).
[[export]]
name = "sandbox-siem"
kind = "file"
path = "$SANDBOX/audit.jsonl"
classes = ["rotation", "account"]
interval = "1s"
EOF
run cat "$SANDBOX/serve.toml"
REKEY_SCHEDULER_INTERVAL=1s "$REKEY" serve --config "$SANDBOX/serve.toml" --listen "127.0.0.1:$SERVER_PORT" 2>"$SANDBOX/server.log" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; stop_moto' EXIT
# api METHOD PATH TOKEN [BODY]: one request; prints the status and the JSON body (secrets masked).
api() {
  python3 - "$SERVER_PORT" "$@" <<'PY'
import json, sys, urllib.request, urllib.error
port, method, path, token = sys.argv[1:5]
body = sys.argv[5].encode() if len(sys.argv) > 5 else None
req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                             headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token != "-" else {})})
try:
    r = urllib.request.urlopen(req, timeout=120); status, text = r.status, r.read().decode()
except urllib.error.HTTPError as e:
    status, text = e.code, e.read().decode()
try:
    doc = json.loads(text)
    def mask(v):
        if isinstance(v, dict): return {k: ("<masked>" if k in ("password", "secret") else mask(x)) for k, x in v.items()}
        if isinstance(v, list): return [mask(x) for x in v[:3]] + (["…"] if len(v) > 3 else [])
        return v
    text = json.dumps(mask(doc), indent=1)[:1200]
except ValueError:
    text = "\n".join(text.splitlines()[:12])
print(f"{method} {path} -> {status}\n{text}")
PY
}
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$SERVER_PORT/healthz', timeout=1)" 2>/dev/null && break
  sleep 0.1
done
api GET /readyz -
echo "web console: http://127.0.0.1:$SERVER_PORT/ui/ (sign in with a token; this one stops with the sandbox)"
python3 -c "import urllib.request; r = urllib.request.urlopen('http://127.0.0.1:$SERVER_PORT/ui/', timeout=5); print('GET /ui/ ->', r.status, r.headers['Content-Security-Policy'][:60] + '…')"
api GET /api/v1/accounts - # no token: 401
api GET "/api/v1/accounts?folder=imported" "$AUDITOR_TOKEN"
ALICE_ID=$("$REKEY" account show sandbox/alice/password --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
api POST "/api/v1/accounts/$ALICE_ID/reveal" "$AUDITOR_TOKEN" # auditors never see secrets: 403
api POST "/api/v1/accounts/$ALICE_ID/checkout" "$ADMIN_TOKEN" '{"ttl":"15m"}'
api POST "/api/v1/accounts/$ALICE_ID/checkin" "$ADMIN_TOKEN"
# The next tick rotates the returned password and ends the check-out; a new one then succeeds.
CHECKED_OUT=0
for _ in $(seq 1 100); do
  python3 - "$SERVER_PORT" "$ADMIN_TOKEN" "$ALICE_ID" <<'PY' && { CHECKED_OUT=1; break; }
import json, sys, urllib.request
port, token, account = sys.argv[1:]
req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/accounts/{account}/checkout", method="POST",
                             data=b"{}", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=60)
except Exception:
    sys.exit(1)
PY
  sleep 0.3
done
[ "$CHECKED_OUT" = 1 ] || { echo "the returned password was not rotated; see $SANDBOX/server.log" >&2; exit 1; }
echo "alice's password was rotated after check-in (a new check-out succeeded); returning it again"
api POST "/api/v1/accounts/$ALICE_ID/checkin" "$ADMIN_TOKEN"
api GET "/api/v1/rotations?account=$ALICE_ID&limit=1" "$ADMIN_TOKEN"
printf '\n$ GET /metrics (excerpt)\n'
python3 -c "
import urllib.request
r = urllib.request.Request('http://127.0.0.1:$SERVER_PORT/metrics', headers={'Authorization': 'Bearer $ADMIN_TOKEN'})
print('\n'.join(l for l in urllib.request.urlopen(r).read().decode().splitlines() if l.startswith(('rekey_rotations_total', 'rekey_overdue', 'rekey_scheduler_ticks'))))"
for _ in $(seq 1 100); do grep -q '"action":"account.checkin"' "$SANDBOX/audit.jsonl" 2>/dev/null && break; sleep 0.2; done
echo "SIEM export: $(wc -l < "$SANDBOX/audit.jsonl") rotation and account events in $SANDBOX/audit.jsonl, e.g.:"
tail -n 1 "$SANDBOX/audit.jsonl" | cut -c1-240
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" && echo "server stopped cleanly (exit 0)"
run "$REKEY" recover # finishes what the stop interrupted, if anything
echo "server log: $SANDBOX/server.log (API tokens are in no log; the audit log names them by id)"

step "done"
echo "The sandbox vault is $SANDBOX/vault.db (passphrase in REKEY_PASSPHRASE above); moto is stopped now."
