# Shared helpers for the scripts in this folder (sourced, not run).

step() { printf '\n==> %s\n' "$*"; }

# timed NAME CMD...: runs CMD and reports how long it took.
timed() {
  local name=$1; shift
  local start=$SECONDS
  "$@"
  echo "[time] $name: $((SECONDS - start)) s"
}

# moto's standalone server (the AWS emulator the tests and the sandbox use).
ensure_moto() {
  if ! python3 -c 'import moto, flask, flask_cors' >/dev/null 2>&1 || ! command -v moto_server >/dev/null 2>&1; then
    step "installing moto, flask, flask-cors"
    python3 -m pip install --quiet 'moto[server]' flask flask-cors
  fi
  command -v moto_server >/dev/null 2>&1 || { echo "moto_server is not on PATH after installing moto" >&2; exit 1; }
}

ensure_rust_tools() {
  command -v cargo >/dev/null 2>&1 || { echo "cargo is missing: install Rust from rustup" >&2; exit 1; }
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
}

# Debian's chromium and Node.js, and the npm packages of the browser tests
# (crates/rekey/tests/browser: playwright-core drives /usr/bin/chromium; no browser download).
ensure_browser_tools() {
  local missing=() sudo=""
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]} (apt-get)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  local dir=crates/rekey/tests/browser
  if ! (cd "$dir" && npm ls --silent >/dev/null 2>&1); then
    step "npm ci ($dir)"
    (cd "$dir" && npm ci --no-audit --no-fund --silent)
  fi
}

# free_port: prints a free TCP port on 127.0.0.1 below 32768.
free_port() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 32767)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); s.close(); print(p); break
    except OSError:
        s.close()
PY
}

# start_moto: starts moto on a free port; sets MOTO_PID and MOTO_URL; waits until it answers.
start_moto() {
  local port; port=$(free_port)
  moto_server -H 127.0.0.1 -p "$port" >"${MOTO_LOG:-/dev/null}" 2>&1 &
  MOTO_PID=$!
  MOTO_PIDS+=("$MOTO_PID")
  MOTO_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 600); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('$MOTO_URL/moto-api/', timeout=1)" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$MOTO_PID" 2>/dev/null || { echo "moto_server exited" >&2; return 1; }
    sleep 0.1
  done
  echo "moto_server did not answer on $MOTO_URL" >&2
  return 1
}

# stop_moto: stops every moto server start_moto started, by PID.
stop_moto() {
  for pid in "${MOTO_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  MOTO_PIDS=()
}
MOTO_PIDS=()
