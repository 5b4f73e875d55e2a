#!/usr/bin/env python3
"""The benchmark harness behind scripts/bench.sh (which builds the binaries and calls this).

Scenarios (see BENCHMARKS.md): P1 rotation of 1,000 keys through the model of real AWS (throttling,
propagation delay, latency) at several concurrencies vs the floor and the safe sequential script; P1M
(regression figure) rotation through a latency shim on moto vs the sequential baseline;
P2 rotation on bare moto: calls/s against moto's ceiling, rekey CPU against moto CPU; P3
discovery, credential-report path vs per-user path; P4 `account list` vs sqlite3 vs
`aws iam list-users`; P5 one scheduler tick over a large vault vs a small one, same due set;
L `rekey serve` under bursts of concurrent API requests (alternating with /healthz bursts, the
HTTP floor) while its scheduler rotates every account, and its rotation throughput without them;
API authenticated reads beside /healthz; R the compliance report over R_USERS managed users.
Every scenario alternates its sides (A B A B …) for PAIRS pairs and prints per-pair figures,
medians and the ratio per pair. Results are appended as Markdown to $BENCH_OUT.

Environment: REKEY, REKEY_BENCH, REKEY_AWS_MODEL (binaries), PAIRS (5), SHIM_DELAY_MS (50), P1_USERS,
P1_CONCURRENCIES, P1_D15_CONCURRENCY, P1_SCRIPT_SAMPLE, P1_SCRIPT_SAMPLE_D15, P1M_USERS, P1M_CONCURRENCY,
P2_USERS, P2_CONCURRENCY, P3_USERS, P4_ACCOUNTS, P5_TOTAL, P5_SMALL, P5_DUE, P5_CONCURRENCY,
L_ACCOUNTS, L_REQUESTS, L_ROUNDS, L_PAIRS, L_CONCURRENCY, L_HEARTBEAT_ACCOUNTS, L_TIMEOUT, R_USERS,
BENCH_WORK (scratch directory), BENCH_OUT (Markdown results file).
"""
import json
from datetime import datetime
import os
import shutil
import signal
import socket
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REKEY = os.environ["REKEY"]
BENCH = os.environ["REKEY_BENCH"]
AWS_MODEL = os.environ.get("REKEY_AWS_MODEL", "rekey-aws-model")
PAIRS = int(os.environ.get("PAIRS", "5"))
WORK = os.environ.get("BENCH_WORK") or tempfile.mkdtemp(prefix="rekey-bench-")
OUT = os.environ.get("BENCH_OUT", os.path.join(WORK, "results.md"))
TICKS = os.sysconf("SC_CLK_TCK")
PASSPHRASE = "bench-passphrase-not-secret"
ADMIN_KEY_ID = "AKIABENCHADMIN000000"  # moto runs without request authentication
ADMIN_SECRET = "bench-admin-secret-not-checked-by-moto"
BASE_ENV = {
    "PATH": os.environ["PATH"],
    "HOME": os.environ.get("HOME", "/tmp"),
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "REKEY_PASSPHRASE": PASSPHRASE,
    "REKEY_LOG": "error",
    "USER": "bench",
}
PROCS = []  # every process started here, stopped by PID at exit
# Bare moto takes far more calls than IAM: start the pace high (rekey learns IAM's from its defaults).
MOTO_PACE = "iam=1000,iam-mutating=1000,sts=5000"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def emit(md):
    print(md, flush=True)
    with open(OUT, "a") as f:
        f.write(md + "\n")


def free_port():
    for _ in range(200):
        p = random.randint(20000, 32767)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            s.close()
            return p
        except OSError:
            s.close()
    raise RuntimeError("no free port")


def proc_cpu(pid):
    """User + system CPU seconds of a running process (all threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Moto:
    """moto_server on 127.0.0.1; its werkzeug request log counts the calls it served."""

    def __init__(self, name):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(WORK, f"moto-{name}.log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        PROCS.append(self.p)
        for _ in range(600):
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)
                return
            except OSError:
                if self.p.poll() is not None:
                    raise RuntimeError("moto_server exited")
                time.sleep(0.1)
        raise RuntimeError("moto_server did not answer")

    def reset(self):
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"), timeout=60)

    def cpu(self):
        return proc_cpu(self.p.pid)

    def calls(self):
        """Requests moto has answered so far (werkzeug logs one line per request)."""
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return sum(1 for line in f if b'"POST ' in line or b'"GET / ' in line)

    def stop(self):
        stop(self.p)


class Shim:
    def __init__(self, upstream, delay_ms):
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "latency_shim.py"), "--upstream", upstream,
                                   "--delay-ms", str(delay_ms), "--port", str(free_port())],
                                  stdout=subprocess.PIPE, text=True)
        PROCS.append(self.p)
        line = self.p.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError("latency shim did not start")
        self.url = line.split()[1]

    def cpu(self):
        return proc_cpu(self.p.pid)

    def stop(self):
        stop(self.p)


def run(cmd, env=None, stdout=None, check=True, stdin_data=None):
    """Runs CMD (set-up steps, not measured); returns (wall seconds, stdout, exit code, stderr)."""
    e = dict(BASE_ENV)
    e.update(env or {})
    start = time.monotonic()
    p = subprocess.Popen(cmd, env=e, stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                         stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(stdin_data.encode() if stdin_data is not None else None)
    wall = time.monotonic() - start
    if check and p.returncode not in (0,):
        raise RuntimeError(f"{cmd[0]} {' '.join(cmd[1:3])} exited {p.returncode}: {err.decode()[-2000:]}")
    return wall, out.decode() if out is not None else "", p.returncode, err.decode()


def run_measured(cmd, env=None, check_codes=(0,)):
    """Runs CMD under `rekey-bench rusage`: (wall s, CPU s of the child, peak RSS MiB, stdout, exit code).

    Not with os.wait4 from here: a child forked by this process reports at least this process's
    peak RSS (Linux keeps the pre-exec high-water mark), so every command would seem as large as
    the harness."""
    e = dict(BASE_ENV)
    e.update(env or {})
    out_path = os.path.join(WORK, "stdout.tmp")
    figures_path = os.path.join(WORK, "rusage.json")
    with open(out_path, "wb") as out, open(os.path.join(WORK, "stderr.tmp"), "wb") as err:
        code = subprocess.run([BENCH, "rusage", "--out", figures_path, "--", *cmd], env=e,
                              stdin=subprocess.DEVNULL, stdout=out, stderr=err).returncode
    if not os.path.exists(figures_path):
        raise RuntimeError(f"{cmd[0]} did not run: {open(os.path.join(WORK, 'stderr.tmp')).read()[-2000:]}")
    with open(figures_path) as f:
        figures = json.load(f)
    os.unlink(figures_path)
    text = open(out_path).read()
    if code not in check_codes:
        raise RuntimeError(f"{' '.join(cmd[:3])} exited {code}: "
                           f"{open(os.path.join(WORK, 'stderr.tmp')).read()[-2000:]}")
    return figures["wall"], figures["cpu"], figures["maxrss_kib"] / 1024, text, code


def rekey_env(vault):
    return {"REKEY_VAULT": f"sqlite:{vault}"}


def new_vault(name, endpoint, directory=None):
    """A fresh vault with provider `bench` (static key; moto does not authenticate)."""
    d = directory or os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    vault = os.path.join(d, "vault.db")
    run([REKEY, "init"], rekey_env(vault))
    run([REKEY, "provider", "add", "bench", "--region", "us-east-1", "--endpoint-url", endpoint,
         "--access-key-id", ADMIN_KEY_ID, "--secret-stdin"], rekey_env(vault), stdin_data=ADMIN_SECRET)
    return vault


def seeded_copy(name, endpoint, seed):
    """A vault seeded by SEED(path) on tmpfs (no fsync per transaction: minutes faster for 100,000
    accounts), then copied to WORK/NAME, where the benchmark uses it (on disk, with fsync)."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else WORK
    d = tempfile.mkdtemp(prefix=f"rekey-bench-{name}-", dir=shm)
    try:
        vault = new_vault(name, endpoint, directory=os.path.join(d, "v"))
        seed(vault)
        dest = os.path.join(WORK, name)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(os.path.dirname(vault), dest)
        return dest
    finally:
        shutil.rmtree(d, ignore_errors=True)


def seed_iam(moto, prefix, count, out, key_every=1, password_every=0, path="/bench/"):
    run([BENCH, "seed-iam", "--endpoint", moto.url, "--prefix", prefix, "--count", str(count), "--path", path,
         "--key-every", str(key_every), "--password-every", str(password_every), "--out", out])


def seed_vault(vault, users=None, due=False, filler=0, settings=None):
    cmd = [BENCH, "seed-vault", "--vault", f"sqlite:{vault}", "--provider", "bench"]
    if settings:
        cmd += ["--settings", settings]
    if users:
        cmd += ["--users", users]
    if due:
        cmd.append("--due")
    if filler:
        cmd += ["--filler", str(filler)]
    run(cmd)


def med(xs):
    return statistics.median(xs)


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def check_reports(text, want_outcomes=("done",)):
    reports = json.loads(text)
    bad = [r for r in reports if r["outcome"] not in want_outcomes]
    if bad:
        raise RuntimeError(f"{len(bad)} of {len(reports)} rotations did not finish: {bad[0]}")
    return len(reports)


# ---------------------------------------------------------------------------------------------
class AwsModel:
    """rekey-aws-model (the model of real AWS: latency, throttling, propagation, paging, quotas) in
    front of moto, one simulated AWS account, preset real-aws plus SETTINGS."""

    def __init__(self, upstream, settings=()):
        cmd = [AWS_MODEL, "--upstream", upstream, "--preset", "real-aws"]
        for kv in settings:
            cmd += ["--set", kv]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        PROCS.append(self.p)
        self.url = self.p.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("rekey-aws-model did not start")

    def stats(self):
        return json.load(urllib.request.urlopen(self.url + "/model/stats", timeout=30))

    def config(self):
        text = urllib.request.urlopen(self.url + "/model/config", timeout=30).read().decode()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def stop(self):
        stop(self.p)


def seconds(v):
    return float(v[:-2]) / 1000 if v.endswith("ms") else float(v.rstrip("s"))


def floor_of(cfg, n):
    """The floor of rotating N keys through the model: the largest of the mutating bucket's drain for
    the calls the work needs (create, deactivate, delete: 3 per key), the all-calls bucket's drain
    (those and one ListAccessKeys: 4 per key), and one rotation's propagation chain (its IAM calls'
    latency and the longest propagation delay). Returns (floor, mutating, all, chain) in seconds."""
    rm, bm = float(cfg["throttle.iam-mutating.rate"]), float(cfg["throttle.iam-mutating.burst"])
    ra, ba = float(cfg["throttle.iam.rate"]), float(cfg["throttle.iam.burst"])
    mutating = max(0.0, 3 * n - bm) / rm
    every = max(0.0, 4 * n - ba) / ra
    chain = 4 * seconds(cfg["latency.iam"]) + seconds(cfg["latency.sts"]) + seconds(cfg["propagation.max"])
    return max(mutating, every, chain), mutating, every, chain


MUTATING_PREFIXES = ("Get", "List", "Simulate", "Generate")


def call_counts(stats):
    """(IAM mutating, IAM all, STS) requests the model saw."""
    mut = every = sts = 0
    for action, count in stats["requests"].items():
        if action == "GetCallerIdentity":
            sts += count
        elif " " not in action:
            every += count
            mut += 0 if action.startswith(MUTATING_PREFIXES) else count
    return mut, every, sts


def check_vault(moto, vault):
    """rekey-bench check-vault of VAULT against moto's state, read from moto itself."""
    state = os.path.join(WORK, "moto-state.json")
    with urllib.request.urlopen(moto.url + "/moto-api/data.json", timeout=120) as r, open(state, "wb") as f:
        shutil.copyfileobj(r, f)
    try:
        _, out, _, _ = run([BENCH, "check-vault", "--vault", f"sqlite:{vault}", "--moto-state", state])
    finally:
        os.unlink(state)
    return json.loads(out)


# Spans of a rotation, between the journal's phase events (and the report's propagation time).
PHASE_SPANS = ["preflight → create_requested", "create_requested → created", "created → verifying (TagUser)",
               "propagation (created → first success)", "verify tail", "created → committed",
               "committed → done (retirement)", "preflight → done"]


def phase_times(vault):
    """Median seconds of each of PHASE_SPANS over the rotations of VAULT (its audit chain's
    `rotation.phase` events and each rotation's journal data)."""
    import sqlite3
    db = sqlite3.connect(f"file:{vault}?mode=ro", uri=True)
    try:
        at = {}
        for when, detail in db.execute("SELECT at, detail FROM audit_events WHERE action = 'rotation.phase'"):
            d = json.loads(detail)
            at.setdefault(d["rotation"], {}).setdefault(d["phase"], when / 1000)
        prop = {rid: json.loads(data).get("propagation_ms") for rid, data in db.execute("SELECT id, data FROM rotations")}
    finally:
        db.close()
    spans = {k: [] for k in PHASE_SPANS}

    def add(name, a, b, t):
        if a in t and b in t:
            spans[name].append(t[b] - t[a])

    for rid, t in at.items():
        add("preflight → create_requested", "preflight", "create_requested", t)
        add("create_requested → created", "create_requested", "created", t)
        add("created → verifying (TagUser)", "created", "verifying", t)
        add("created → committed", "created", "committed", t)
        add("committed → done (retirement)", "committed", "done", t)
        add("preflight → done", "preflight", "done", t)
        if prop.get(rid) is not None:
            spans["propagation (created → first success)"].append(prop[rid] / 1000)
            if "created" in t and "committed" in t:
                spans["verify tail"].append(t["committed"] - t["created"] - prop[rid] / 1000)
    return {k: med(v) for k, v in spans.items() if v}


def p1():
    """Rotation of N keys through the model of real AWS, at several concurrencies and once with a
    15 s propagation delay, beside the safe sequential script measured on a sample."""
    n = int(os.environ.get("P1_USERS", "1000"))
    concs = [int(c) for c in os.environ.get("P1_CONCURRENCIES", "8,32,128,512").split(",")]
    d15 = int(os.environ.get("P1_D15_CONCURRENCY", "128"))
    sample = int(os.environ.get("P1_SCRIPT_SAMPLE", "20"))
    d15_sample = int(os.environ.get("P1_SCRIPT_SAMPLE_D15", "5"))
    log(f"P1: {n} keys through the model of real AWS at concurrency {concs}, D=15 s at {d15}; "
        f"the safe script on {sample} (+{d15_sample} at D=15 s) keys")
    moto = Moto("p1")
    users = os.path.join(WORK, "p1-users.tsv")
    delete = '{"previous_key":"delete"}'
    d15_settings = ["propagation.min=15s", "propagation.max=15s"]
    runs = [(c, "6–10 s", []) for c in concs] + ([(d15, "15 s", d15_settings)] if d15 else [])
    rows, figures, script = [], [], {}
    try:
        for label, extra, count in [("6–10 s", [], sample), ("15 s", d15_settings, d15_sample)]:
            if not count:
                continue
            moto.reset()
            seed_iam(moto, "p1", count, users)
            model = AwsModel(moto.url, extra)
            wall, _, _, out, _ = run_measured([sys.executable, os.path.join(HERE, "safe_rotate.py"),
                                               "--endpoint", model.url, "--path-prefix", "/bench/"])
            model.stop()
            res = json.loads(out)
            script[label] = (res["seconds"] / res["users"], res["users"], res["seconds"])
            log(f"P1 script, D {label}: {res['users']} keys in {res['seconds']:.1f} s "
                f"({script[label][0]:.2f} s per key)")
        for conc, label, extra in runs:
            moto.reset()
            seed_iam(moto, "p1", n, users)
            model = AwsModel(moto.url, extra)
            vault = os.path.join(seeded_copy("p1-vault", model.url,
                                             lambda v: seed_vault(v, users=users, settings=delete)), "vault.db")
            wall, cpu, _, out, code = run_measured([REKEY, "rotate", "--all", "--concurrency", str(conc),
                                                    "-o", "json"], rekey_env(vault), check_codes=(0, 9))
            stats, cfg = model.stats(), model.config()
            model.stop()
            check = check_vault(moto, vault)
            phases = phase_times(vault)
            reports = json.loads(out)
            errors = {}
            for r in reports:
                if r["outcome"] != "done":
                    kind = (r.get("error") or r["outcome"])[:160]
                    errors[kind] = errors.get(kind, 0) + 1
            for kind, count in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
                log(f"P1 concurrency {conc}, D {label}: {count} × {kind}")
            done = sum(1 for r in reports if r["outcome"] == "done")
            by_throttle = sum(1 for r in reports if r["outcome"] != "done" and "Throttling" in (r["error"] or ""))
            fl, f_mut, f_all, f_chain = floor_of(cfg, n)
            mut, every, sts = call_counts(stats)
            per_key, _, _ = script.get(label, script.get("6–10 s", (0, 0, 0)))
            script_total = per_key * n
            props = [r["propagation_ms"] for r in reports if r.get("propagation_ms") is not None]
            outcomes = {}
            for r in reports:
                outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
            fig = {
                "conc": conc, "d": label, "wall": wall, "cpu": cpu, "floor": fl, "f_mut": f_mut, "f_all": f_all,
                "f_chain": f_chain, "done": done, "failed": len(reports) - done, "by_throttle": by_throttle,
                "throttled_model": sum(stats["throttled"].values()),
                "throttled_reports": sum(r.get("throttled", 0) for r in reports),
                "not_yet": stats["not_yet_propagated"], "mut": mut, "every": every, "sts": sts,
                "rot_med": med([r["duration_ms"] for r in reports]) / 1000,
                "paced_med": med([r.get("paced_ms", 0) for r in reports]) / 1000,
                "paced_sum": sum(r.get("paced_ms", 0) for r in reports) / 1000,
                "prop_med": med(props) / 1000 if props else 0, "script": script_total,
                "mut_drain": mut / float(cfg["throttle.iam-mutating.rate"]),
                "all_drain": every / float(cfg["throttle.iam.rate"]),
                "outcomes": outcomes, "check": check, "phases": phases, "errors": errors,
                "actions": {a: c for a, c in stats["requests"].items() if " " not in a},
                "throttled_actions": stats.get("throttled_actions", {}),
            }
            figures.append(fig)
            # A ratio means nothing unless every rotation finished.
            finished = done == len(reports)
            rows.append([conc, label, f"{wall:.0f}", f"{fl:.0f}", f"{wall / fl:.2f}×" if finished else "–",
                         f"{script_total:.0f}", f"{script_total / wall:.1f}×" if finished and per_key else "–",
                         f"{done}/{len(reports)}", by_throttle,
                         fig["throttled_model"], f"{mut / n:.2f} / {every / n:.2f} / {sts / n:.2f}",
                         f"{fig['rot_med']:.1f}", f"{fig['prop_med']:.1f}", f"{fig['paced_med']:.1f}"])
            log(f"P1 concurrency {conc}, D {label}: {wall:.0f} s, floor {fl:.0f} s ({wall / fl:.2f}×), "
                f"{done}/{len(reports)} done, {by_throttle} failed by throttling, model throttled "
                f"{fig['throttled_model']} calls; calls/key {mut / n:.2f} mutating, {every / n:.2f} IAM, "
                f"{sts / n:.2f} STS; outcomes {outcomes}; vault check {check['ok']}/{check['accounts']} ok, "
                f"{check['keys_nobody_has']} IAM keys in no vault, {check['problem_count']} problems")
    finally:
        moto.stop()
    emit(f"\n### P1: rotation of {n} access keys through the model of real AWS\n")
    emit(table(["concurrency", "propagation D", "rekey wall (s)", "floor (s)", "rekey / floor",
                "safe script, extrapolated (s)", "script / rekey", "done", "failed by throttling",
                "calls throttled (model)", "calls per key: IAM mutating / IAM all / STS",
                "rotation median (s)", "propagation median (s)", "paced wait median (s)"], rows))
    for label, (per_key, count, total) in script.items():
        emit(f"\nSafe sequential script, D {label}: {count} keys in {total:.1f} s = {per_key:.2f} s per key, "
             f"extrapolated to {n} keys: {per_key * n:.0f} s ({per_key * n / 3600:.1f} h).")
    if figures:
        f = figures[0]
        emit(f"\nFloor of {n} keys at the model's defaults: mutating bucket {f['f_mut']:.0f} s (3 per key at "
             f"10/s), all-calls bucket {f['f_all']:.0f} s (4 per key at 20/s), one rotation's chain "
             f"{f['f_chain']:.1f} s. Targets: rekey ≤ 1.25× the floor, ≥ 25× the script, 0 failed by throttling.")
        emit("\nrekey's own calls drain the buckets in: " + "; ".join(
            f"concurrency {g['conc']} (D {g['d']}): mutating {g['mut_drain']:.0f} s, all {g['all_drain']:.0f} s"
            for g in figures) + ".")
        emit("\nOutcomes and the vault checked against moto's own state after each run (`rekey-bench "
             "check-vault`: every vault key is its user's active key in IAM with the same secret; IAM keys of "
             "those users that no vault holds):\n")
        emit(table(["concurrency", "propagation D", "outcomes", "throttled calls (reports)", "paced wait, all "
                    "rotations (s)", "accounts checked", "vault key = IAM key", "IAM keys in no vault",
                    "pending/previous versions left", "problems"],
                   [[g["conc"], g["d"], ", ".join(f"{k} {v}" for k, v in sorted(g["outcomes"].items())),
                     g["throttled_reports"], f"{g['paced_sum']:.0f}",
                     g["check"]["accounts"], g["check"]["ok"], g["check"]["keys_nobody_has"],
                     g["check"]["pending_or_previous_versions"],
                     g["check"]["problem_count"] and "; ".join(g["check"]["problems"][:3]) or 0] for g in figures]))
        emit("\nCalls per key by action as the model received them (throttled ones included; in brackets "
             "the throttled):\n")
        actions = sorted({a for g in figures for a in g["actions"]})
        emit(table(["concurrency", "propagation D"] + actions,
                   [[g["conc"], g["d"]] + [f"{g['actions'].get(a, 0) / n:.2f}"
                                           + (f" ({g['throttled_actions'][a]})" if g["throttled_actions"].get(a)
                                              else "") for a in actions] for g in figures]))
        spans = [k for k in PHASE_SPANS if any(k in g["phases"] for g in figures)]
        emit("\nWhere a rotation's time goes (medians over the run's rotations, seconds, from the journal's "
             "phase events; `verify tail` = created → committed minus the measured propagation):\n")
        emit(table(["concurrency", "propagation D"] + spans,
                   [[g["conc"], g["d"]] + [f"{g['phases'][k]:.2f}" if k in g["phases"] else "–" for k in spans]
                    for g in figures]))


# ---------------------------------------------------------------------------------------------
def p1m():
    n = int(os.environ.get("P1M_USERS", "300"))
    conc = int(os.environ.get("P1M_CONCURRENCY", "256"))
    delay = float(os.environ.get("SHIM_DELAY_MS", "50"))
    log(f"P1M: {n} users, {delay} ms shim, rekey --concurrency {conc}, {PAIRS} pairs")
    moto = Moto("p1")
    shim = Shim(moto.url, delay)
    users = os.path.join(WORK, "p1-users.tsv")
    rows, ratios, rk, bl = [], [], [], []
    try:
        for i in range(PAIRS):
            # A: rekey
            moto.reset()
            seed_iam(moto, "p1", n, users)
            vault = os.path.join(seeded_copy("p1-vault", shim.url, lambda v: seed_vault(v, users=users)), "vault.db")
            c0 = moto.calls()
            env = rekey_env(vault) | {"REKEY_PROVIDER_CONCURRENCY": str(conc), "REKEY_AWS_PACE": MOTO_PACE}
            wall_a, cpu_a, _, out, _ = run_measured([REKEY, "rotate", "--all", "--concurrency", str(conc),
                                                     "-o", "json"], env)
            calls_a = moto.calls() - c0
            check_reports(out, ("done",))
            # B: baseline
            moto.reset()
            seed_iam(moto, "p1", n, users)
            c0 = moto.calls()
            wall_b, cpu_b, _, out, _ = run_measured([sys.executable, os.path.join(HERE, "baseline_rotate.py"),
                                                     "--endpoint", shim.url, "--path-prefix", "/bench/"])
            calls_b = moto.calls() - c0
            assert json.loads(out)["users"] == n, out
            rk.append(wall_a)
            bl.append(wall_b)
            ratios.append(wall_b / wall_a)
            rows.append([i + 1, f"{wall_a:.1f}", calls_a, f"{cpu_a:.2f}", f"{wall_b:.1f}", calls_b,
                         f"{wall_b / wall_a:.1f}×"])
            log(f"P1M pair {i + 1}: rekey {wall_a:.1f} s ({calls_a} calls), baseline {wall_b:.1f} s "
                f"({calls_b} calls), ratio {wall_b / wall_a:.1f}")
    finally:
        shim.stop()
        moto.stop()
    emit(f"\n### P1M (regression figure, moto only): rotation of {n} access keys through a {delay:g} ms latency shim\n")
    emit(table(["pair", "rekey wall (s)", "rekey API calls", "rekey CPU (s)", "baseline wall (s)",
                "baseline API calls", "baseline / rekey"], rows))
    emit(f"\nMedians: rekey {med(rk):.1f} s, baseline {med(bl):.1f} s; ratio per pair: median "
         f"{med(ratios):.1f}× (min {min(ratios):.1f}×, max {max(ratios):.1f}×). Target ≥ 20×.")


# ---------------------------------------------------------------------------------------------
def p2():
    n = int(os.environ.get("P2_USERS", "1000"))
    conc = int(os.environ.get("P2_CONCURRENCY", "256"))
    log(f"P2: {n} users on bare moto, rekey --concurrency {conc}, {PAIRS} pairs")
    moto = Moto("p2")
    users = os.path.join(WORK, "p2-users.tsv")
    ceil_users = os.path.join(WORK, "p2-ceiling.tsv")
    rows, fr_calls, fr_cpu, ceilings, rates, ratios = [], [], [], [], [], []
    try:
        for i in range(PAIRS):
            moto.reset()
            seed_iam(moto, "p2", n, users)
            seed_iam(moto, "ceil", 64, ceil_users, path="/ceiling/")
            vault = os.path.join(seeded_copy("p2-vault", moto.url, lambda v: seed_vault(v, users=users)), "vault.db")
            # moto's ceiling for the rotation's call mix, on the same state, just before rekey runs.
            _, out, _, _ = run([BENCH, "ceiling", "--endpoint", moto.url, "--users", ceil_users,
                                "--concurrency", "32", "--seconds", os.environ.get("P2_CEILING_SECONDS", "8")])
            ceiling = json.loads(out)["calls_per_s"]
            c0, m0 = moto.calls(), moto.cpu()
            env = rekey_env(vault) | {"REKEY_PROVIDER_CONCURRENCY": str(conc), "REKEY_AWS_PACE": MOTO_PACE}
            wall_a, cpu_a, _, out, _ = run_measured([REKEY, "rotate", "--all", "--concurrency", str(conc),
                                                     "-o", "json"], env)
            calls_a, moto_cpu_a = moto.calls() - c0, moto.cpu() - m0
            check_reports(out, ("done",))
            rate = calls_a / wall_a
            # B: baseline on bare moto
            moto.reset()
            seed_iam(moto, "p2", n, users)
            m0 = moto.cpu()
            wall_b, cpu_b, _, out, _ = run_measured([sys.executable, os.path.join(HERE, "baseline_rotate.py"),
                                                     "--endpoint", moto.url, "--path-prefix", "/bench/"])
            moto_cpu_b = moto.cpu() - m0
            ceilings.append(ceiling)
            rates.append(rate)
            fr_calls.append(rate / ceiling)
            fr_cpu.append(cpu_a / moto_cpu_a)
            ratios.append(wall_b / wall_a)
            rows.append([i + 1, f"{ceiling:.0f}", f"{wall_a:.1f}", calls_a, f"{rate:.0f}",
                         f"{100 * rate / ceiling:.0f}%", f"{1000 * cpu_a / n:.1f}", f"{1000 * moto_cpu_a / n:.1f}",
                         f"{100 * cpu_a / moto_cpu_a:.1f}%", f"{wall_b:.1f}", f"{1000 * cpu_b / n:.1f}",
                         f"{wall_b / wall_a:.2f}×"])
            log(f"P2 pair {i + 1}: ceiling {ceiling:.0f}/s, rekey {rate:.0f}/s ({100 * rate / ceiling:.0f}%), "
                f"CPU rekey {cpu_a:.2f} s vs moto {moto_cpu_a:.2f} s, baseline {wall_b:.1f} s")
    finally:
        moto.stop()
    emit(f"\n### P2: rotation of {n} access keys on bare moto\n")
    emit(table(["pair", "moto ceiling (calls/s)", "rekey wall (s)", "rekey calls", "rekey calls/s", "of ceiling",
                "rekey CPU/rotation (ms)", "moto CPU/rotation (ms)", "rekey CPU / moto CPU", "baseline wall (s)",
                "baseline CPU/rotation (ms)", "baseline / rekey wall"], rows))
    emit(f"\nMedians: ceiling {med(ceilings):.0f} calls/s, rekey {med(rates):.0f} calls/s = "
         f"{100 * med(fr_calls):.0f}% of the ceiling (target ≥ 90%); rekey CPU = {100 * med(fr_cpu):.1f}% of "
         f"moto's (target ≤ 5%); baseline / rekey wall {med(ratios):.2f}×.")


# ---------------------------------------------------------------------------------------------
def p3():
    n = int(os.environ.get("P3_USERS", "10000"))
    log(f"P3: discovery of {n} users, {PAIRS} pairs")
    moto = Moto("p3")
    rows, ra, rb, ratios = [], [], [], []
    try:
        seed_iam(moto, "user", n, os.path.join(WORK, "p3-users.tsv"), key_every=3, password_every=5, path="/")
        vault = new_vault("p3-vault", moto.url)

        def disc(*extra):
            wall, _, _, out, _ = run_measured([REKEY, "discover", "bench", *extra, "--output", "json"],
                                              rekey_env(vault))
            d = json.loads(out)[0]
            return wall, d["api_calls"], len(d["users"])

        for i in range(PAIRS):
            wa, ca, ua = disc()
            wb, cb, ub = disc("--per-user")
            assert ua == ub == n, (ua, ub)
            ra.append(wa)
            rb.append(wb)
            ratios.append(wb / wa)
            rows.append([i + 1, ua, ca, f"{wa:.2f}", cb, f"{wb:.1f}", f"{wb / wa:.0f}×"])
            log(f"P3 pair {i + 1}: report {wa:.2f} s / {ca} calls, per-user {wb:.1f} s / {cb} calls")
    finally:
        moto.stop()
    emit(f"\n### P3: discovery of {n} IAM users\n")
    emit(table(["pair", "users", "report path: calls", "report path: wall (s)", "per-user path: calls",
                "per-user path: wall (s)", "per-user / report"], rows))
    emit(f"\nMedians: report path {med(ra):.2f} s, per-user path {med(rb):.1f} s; ratio per pair: median "
         f"{med(ratios):.0f}× (min {min(ratios):.0f}×). Target: a handful of calls, ≥ 50×.")


# ---------------------------------------------------------------------------------------------
P4_SQL = ("SELECT a.id, a.provider, a.user_name, a.user_id, a.arn, a.kind, a.folder, a.title, a.status, "
          "a.settings, a.created_at, a.updated_at, s.version, s.key_id, a.last_rotated_at, a.next_due_at, "
          "a.heartbeat_at, a.heartbeat_status, a.heartbeat_detail FROM accounts a LEFT JOIN secret_versions s "
          "ON s.record_id = a.id AND s.state = 'current' ORDER BY a.provider, a.user_name, a.kind")


def p4():
    n = int(os.environ.get("P4_ACCOUNTS", "10000"))
    log(f"P4: listing {n} accounts, {PAIRS} rounds")
    moto = Moto("p4")
    rows = []
    res = {"rekey": [], "sqlite3": [], "aws": []}
    rss = {"rekey": [], "sqlite3": [], "aws": []}
    try:
        users = os.path.join(WORK, "p4-users.tsv")
        seed_iam(moto, "user", n, users, key_every=0, path="/")
        vault = os.path.join(seeded_copy("p4", moto.url, lambda v: seed_vault(v, users=users)), "vault.db")
        cmds = {
            "rekey": ([REKEY, "account", "list", "--output", "json"], rekey_env(vault)),
            "sqlite3": (["sqlite3", "-json", "-readonly", vault, P4_SQL], {}),
            "aws": (["aws", "iam", "list-users", "--endpoint-url", moto.url, "--output", "json"], {}),
        }
        counts = {}
        for i in range(PAIRS):
            for name, (cmd, env) in cmds.items():
                wall, _, maxrss, out, _ = run_measured(cmd, env)
                doc = json.loads(out)
                counts[name] = len(doc["Users"]) if name == "aws" else len(doc)
                res[name].append(wall)
                rss[name].append(maxrss)
            a, s, w = res["rekey"][-1], res["sqlite3"][-1], res["aws"][-1]
            rows.append([i + 1, f"{a * 1000:.0f}", f"{s * 1000:.0f}", f"{w * 1000:.0f}", f"{a / s:.2f}×",
                         f"{w / a:.1f}×"])
            log(f"P4 round {i + 1}: rekey {a * 1000:.0f} ms, sqlite3 {s * 1000:.0f} ms, aws {w * 1000:.0f} ms")
        if not counts["rekey"] == counts["sqlite3"] == n or counts["aws"] < n:
            raise RuntimeError(f"row counts differ: {counts}")
    finally:
        moto.stop()
    emit(f"\n### P4: listing {n} accounts\n")
    emit(table(["round", "rekey account list -o json (ms)", "sqlite3 shell, same rows (ms)",
                f"aws iam list-users, {counts['aws']} users (ms)", "rekey / sqlite3", "aws / rekey"], rows))
    r_floor = [a / s for a, s in zip(res["rekey"], res["sqlite3"])]
    r_aws = [w / a for a, w in zip(res["rekey"], res["aws"])]
    emit(f"\nMedians: rekey {med(res['rekey']) * 1000:.0f} ms, sqlite3 {med(res['sqlite3']) * 1000:.0f} ms, "
         f"aws {med(res['aws']) * 1000:.0f} ms. rekey / sqlite3: median {med(r_floor):.2f}× (target ≤ 3×); "
         f"aws / rekey: median {med(r_aws):.1f}× (target ≥ 10×). Peak RSS (median): rekey "
         f"{med(rss['rekey']):.0f} MiB, sqlite3 {med(rss['sqlite3']):.0f} MiB, aws {med(rss['aws']):.0f} MiB.")


# ---------------------------------------------------------------------------------------------
def p5():
    total = int(os.environ.get("P5_TOTAL", "100000"))
    small = int(os.environ.get("P5_SMALL", "1000"))
    due = int(os.environ.get("P5_DUE", "100"))
    conc = int(os.environ.get("P5_CONCURRENCY", "32"))
    log(f"P5: tick over {total} vs {small} accounts, {due} due, --concurrency {conc}, {PAIRS} pairs")
    moto = Moto("p5")
    rows, rb, rs, ratios = [], [], [], []
    try:
        # Pristine vaults of filler accounts (never due), seeded on tmpfs (no fsync) and copied.
        pristine = {}
        for name, size in (("large", total), ("small", small)):
            t = time.monotonic()
            pristine[name] = seeded_copy(f"p5-pristine-{name}", moto.url,
                                         lambda v, k=size - due: seed_vault(v, filler=k))
            log(f"P5: seeded the {name} vault ({size - due} filler accounts) in {time.monotonic() - t:.0f} s")
        users = os.path.join(WORK, "p5-due.tsv")

        def tick(name):
            moto.reset()
            seed_iam(moto, "due", due, users)
            d = os.path.join(WORK, f"p5-run-{name}")
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(pristine[name], d)
            vault = os.path.join(d, "vault.db")
            seed_vault(vault, users=users, due=True)
            env = rekey_env(vault) | {"REKEY_PROVIDER_CONCURRENCY": str(conc), "REKEY_AWS_PACE": MOTO_PACE}
            wall, cpu, maxrss, out, _ = run_measured([REKEY, "run-due", "--once", "--concurrency", str(conc),
                                                      "-o", "json"], env)
            rotations = [r for r in json.loads(out) if r["outcome"] == "done"]
            if len(rotations) != due:
                raise RuntimeError(f"tick over the {name} vault rotated {len(rotations)} of {due}: {out[:500]}")
            shutil.rmtree(d, ignore_errors=True)
            return wall, cpu, maxrss

        for i in range(PAIRS):
            wb, cb, mb = tick("large")
            ws, cs, ms = tick("small")
            rb.append(wb)
            rs.append(ws)
            ratios.append(wb / ws)
            rows.append([i + 1, f"{wb:.2f}", f"{cb:.2f}", f"{mb:.0f}", f"{ws:.2f}", f"{cs:.2f}", f"{ms:.0f}",
                         f"{wb / ws:.2f}×"])
            log(f"P5 pair {i + 1}: {total}: {wb:.2f} s, {small}: {ws:.2f} s, ratio {wb / ws:.2f}")
    finally:
        moto.stop()
    emit(f"\n### P5: one scheduler tick (`rekey run-due --once`), {due} due\n")
    emit(table(["pair", f"{total} accounts: wall (s)", "CPU (s)", "peak RSS (MiB)", f"{small} accounts: wall (s)",
                "CPU (s)", "peak RSS (MiB)", "large / small"], rows))
    emit(f"\nMedians: {total} accounts {med(rb):.2f} s, {small} accounts {med(rs):.2f} s; ratio per pair: median "
         f"{med(ratios):.2f}× (max {max(ratios):.2f}×). Target ≤ 1.5×.")

# ---------------------------------------------------------------------------------------------
class Server:
    """`rekey serve` on a free loopback port with its own config file; ready once /readyz says so."""

    def __init__(self, name, vault, token, interval, concurrency, env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        config = os.path.join(WORK, f"{name}.toml")
        with open(config, "w") as f:
            f.write(f'listen = "127.0.0.1:{self.port}"\n\n[scheduler]\ninterval = "{interval}"\n'
                    f"concurrency = {concurrency}\n")
        self.log_path = os.path.join(WORK, f"{name}-serve.log")
        e = dict(BASE_ENV) | rekey_env(vault) | env | {"REKEY_LOG": "warn"}
        self.log = open(self.log_path, "w")
        self.started = time.monotonic()
        self.p = subprocess.Popen([REKEY, "serve", "--config", config], env=e, stdin=subprocess.DEVNULL,
                                  stdout=self.log, stderr=subprocess.STDOUT)
        PROCS.append(self.p)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"rekey serve exited {self.p.returncode}: {open(self.log_path).read()[-2000:]}")
            try:
                if self.get("/readyz", auth=False)[0] == 200:
                    self.ready = time.monotonic() - self.started
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("rekey serve did not become ready within 120 s")

    def get(self, path, auth=True):
        req = urllib.request.Request(self.url + path)
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def all_rotations(self):
        """Every rotation, page by page (empty if the API refuses)."""
        out, cursor = [], None
        while True:
            status, text = self.get("/api/v1/rotations?limit=500" + (f"&cursor={cursor}" if cursor else ""))
            if status != 200:
                return out
            page = json.loads(text)
            out += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return out

    def outcomes(self):
        """rekey_rotations_total by outcome, from /metrics."""
        status, text = self.get("/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}: {text[:300]}")
        out = {}
        for line in text.splitlines():
            if line.startswith("rekey_rotations_total{"):
                out[line.split('outcome="', 1)[1].split('"', 1)[0]] = int(float(line.rsplit(" ", 1)[1]))
        return out

    def counter(self, name):
        """A counter of /metrics without labels (0 if absent)."""
        status, text = self.get("/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}: {text[:300]}")
        return next((int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
                     if line.startswith(name + " ")), 0)

    def cpu(self):
        return proc_cpu(self.p.pid)

    def terminate(self):
        """SIGTERM; the exit code (the server must exit 0)."""
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(120)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return "killed after 120 s"

    def problems(self):
        """Warning and error lines the server logged."""
        self.log.flush()
        return [ln.strip() for ln in open(self.log_path) if " WARN " in ln or " ERROR " in ln]


def finished(outcomes):
    return sum(outcomes.values())


def load_burst(srv, users, hb_users, requests, mix):
    _, out, _, _ = run([BENCH, "load", "--url", srv.url, "--users", users, "--heartbeat-users", hb_users,
                        "--requests", str(requests), "--mix", mix], {"REKEY_BENCH_TOKEN": srv.token})
    return json.loads(out)


def heartbeat_floor(moto, hb_users, count):
    """The IAM calls of COUNT heartbeats sent straight to moto at once, nothing stored: what the
    emulator alone takes to answer the burst's heartbeats while the rotations go on."""
    _, out, _, _ = run([BENCH, "heartbeat-floor", "--endpoint", moto.url, "--users", hb_users,
                        "--requests", str(count)])
    return json.loads(out)


def load_side(moto, loaded, n, hb_n, requests, rounds, conc, bound):
    """One server run over N due accounts: with bursts of API load (alternating with /healthz
    bursts) while the scheduler rotates, or with no load; then waits for every rotation."""
    users, hb_users = os.path.join(WORK, "l-users.tsv"), os.path.join(WORK, "l-hb.tsv")
    moto.reset()
    seed_iam(moto, "load", n, users)
    seed_iam(moto, "hb", hb_n, hb_users, path="/bench-hb/")
    vault = os.path.join(seeded_copy("l-vault", moto.url,
                                     lambda v: (seed_vault(v, users=users, due=True), seed_vault(v, users=hb_users))),
                         "vault.db")
    _, out, _, _ = run([REKEY, "token", "create", "--role", "admin", "--name", "bench-load", "--output", "json"],
                       rekey_env(vault))
    token = json.loads(out)["token"]
    c0 = moto.calls()
    srv = Server("l-loaded" if loaded else "l-idle", vault, token, "1s", conc,
                 {"REKEY_PROVIDER_CONCURRENCY": str(conc), "REKEY_AWS_PACE": MOTO_PACE})
    bursts = []
    try:
        for r in range(rounds if loaded else 0):
            for mix in ("api", "healthz"):
                before, shared = finished(srv.outcomes()), srv.counter("rekey_api_shared_answers_total")
                res = load_burst(srv, users, hb_users, requests, mix)
                res["round"], res["before"], res["after"] = r + 1, before, finished(srv.outcomes())
                # Requests answered with an identical request's answer (the scrape above is one).
                res["shared"] = srv.counter("rekey_api_shared_answers_total") - shared
                if mix == "api" and hb_n:
                    res["floor"] = heartbeat_floor(moto, hb_users, res["routes"]["account.heartbeat"]["count"])
                bursts.append(res)
                log(f"L {mix} burst {r + 1}: p50 {res['p50_ms']:.0f} ms, p99 {res['p99_ms']:.0f} ms, "
                    f"errors {res['errors']} {res['errors_by_kind'] or ''}, rotations finished {res['after']}")
        deadline = srv.started + bound
        floor_calls = sum(b["floor"]["calls"] for b in bursts if "floor" in b)
        outcomes = srv.outcomes()
        while finished(outcomes) < n and time.monotonic() < deadline:
            time.sleep(0.5)
            outcomes = srv.outcomes()
        rotations = srv.all_rotations()
        cpu = srv.cpu()
    finally:
        code = srv.terminate()
    phases = {}
    for rot in rotations:
        phases[rot["phase"]] = phases.get(rot["phase"], 0) + 1
    starts = [rot["started_at"] for rot in rotations]
    ends = [rot["finished_at"] for rot in rotations if rot.get("finished_at")]
    window = (iso(max(ends)) - iso(min(starts))) if starts and ends else float("nan")
    return {"bursts": bursts, "outcomes": outcomes, "phases": phases, "window": window, "cpu": cpu,
            "exit": code, "calls": moto.calls() - c0 - floor_calls, "problems": srv.problems(), "ready": srv.ready}


def iso(ts):
    """Seconds since the epoch of an RFC 3339 timestamp (with up to nanoseconds)."""
    head, _, frac = ts.rstrip("Z").replace("+00:00", "").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + (float("0." + frac) if frac else 0.0)


def load_scenario():
    n = int(os.environ.get("L_ACCOUNTS", "1000"))
    requests = int(os.environ.get("L_REQUESTS", "1000"))
    rounds = int(os.environ.get("L_ROUNDS", "5"))
    pairs = int(os.environ.get("L_PAIRS", "1"))
    conc = int(os.environ.get("L_CONCURRENCY", "64"))
    hb_n = int(os.environ.get("L_HEARTBEAT_ACCOUNTS", "20"))
    bound = float(os.environ.get("L_TIMEOUT", "600"))
    log(f"L: server with {n} due accounts (scheduler concurrency {conc}), bursts of {requests} concurrent requests, "
        f"{rounds} rounds, {pairs} pairs")
    moto = Moto("l")
    runs = []
    try:
        for i in range(pairs):
            for loaded in (True, False):
                res = load_side(moto, loaded, n, hb_n, requests, rounds, conc, bound)
                res["pair"], res["loaded"] = i + 1, loaded
                runs.append(res)
                log(f"L pair {i + 1} {'under load' if loaded else 'idle'}: {res['phases']} in {res['window']:.1f} s, "
                    f"server exit {res['exit']}, {len(res['problems'])} warnings")
    finally:
        moto.stop()
    emit_load(runs, n, requests)


def emit_load(runs, n, requests):
    emit(f"\n### L: the server under load: bursts of {requests} concurrent requests while the scheduler rotates "
         f"{n} accounts\n")
    rows, api, hz = [], [], []
    for run_ in runs:
        b = run_["bursts"]
        for a, h in zip(b[0::2], b[1::2]):
            api.append(a)
            hz.append(h)
            rows.append([run_["pair"], a["round"], f"{a['p50_ms']:.0f}", f"{a['p99_ms']:.0f}", f"{a['max_ms']:.0f}",
                         f"{a['vault_only']['p99_ms']:.0f}", a["errors"], f"{a['wall_s']:.2f}", f"{h['p50_ms']:.1f}", f"{h['p99_ms']:.1f}",
                         f"{h['max_ms']:.1f}", h["errors"], f"{a['p50_ms'] / h['p50_ms']:.0f}×",
                         f"{a['before']}→{a['after']}", a["shared"]])
    emit(table(["pair", "round", "API p50 (ms)", "API p99 (ms)", "API max (ms)",
                "API p99 without heartbeats (ms)", "API errors", "API burst wall (s)",
                "/healthz p50 (ms)", "/healthz p99 (ms)", "/healthz max (ms)", "/healthz errors",
                "API / healthz p50", "rotations finished during the API burst",
                "API requests answered with an identical one's answer"], rows))
    kinds = {}
    for a in api + hz:
        for k, c in a["errors_by_kind"].items():
            kinds[k] = kinds.get(k, 0) + c
    emit(f"\nAPI requests: {sum(a['count'] for a in api)}, errors {sum(a['errors'] for a in api)}; /healthz requests: "
         f"{sum(h['count'] for h in hz)}, errors {sum(h['errors'] for h in hz)}"
         f"{'; errors by kind: ' + json.dumps(kinds) if kinds else ''}. Per round, median: API p50 "
         f"{med([a['p50_ms'] for a in api]):.0f} ms, p99 {med([a['p99_ms'] for a in api]):.0f} ms "
         f"(worst p99 {max(a['p99_ms'] for a in api):.0f} ms); without the heartbeats (every route answered from the "
         f"vault alone) p99 {med([a['vault_only']['p99_ms'] for a in api]):.0f} ms (worst "
         f"{max(a['vault_only']['p99_ms'] for a in api):.0f} ms); /healthz p50 {med([h['p50_ms'] for h in hz]):.1f} ms, "
         f"p99 {med([h['p99_ms'] for h in hz]):.1f} ms.\n")
    floors = [a["floor"] for a in api if "floor" in a]
    if floors:
        p50s = ", ".join(f"{f['p50_ms']:.0f}" for f in floors)
        p99s = ", ".join(f"{f['p99_ms']:.0f}" for f in floors)
        emit(f"The heartbeats' IAM calls (GetUser, ListAccessKeys, GetCallerIdentity) sent straight to moto, "
             f"{floors[0]['count']} at once after each API burst while the rotations go on (`rekey-bench "
             f"heartbeat-floor`, nothing stored; the floor of the API's heartbeat route): per round p50 {p50s} ms, "
             f"p99 {p99s} ms; median p50 {med([f['p50_ms'] for f in floors]):.0f} ms, "
             f"p99 {med([f['p99_ms'] for f in floors]):.0f} ms; {sum(f['errors'] for f in floors)} failed. Their calls "
             f"are left out of the moto calls below.\n")
    routes = sorted({r for a in api for r in a["routes"]})
    emit(table(["API route", "requests per burst", "p50 (ms), median of rounds", "p99 (ms), median of rounds"],
               [[r, api[0]["routes"].get(r, {}).get("count", 0),
                 f"{med([a['routes'][r]['p50_ms'] for a in api if r in a['routes']]):.0f}",
                 f"{med([a['routes'][r]['p99_ms'] for a in api if r in a['routes']]):.0f}"] for r in routes]))
    emit("")
    rows = []
    for run_ in runs:
        ok = run_["phases"].get("done", 0)
        failed = sum(c for p, c in run_["phases"].items() if p != "done")
        rows.append([run_["pair"], "API bursts" if run_["loaded"] else "no load", f"{ok}/{n}", failed,
                     f"{run_['window']:.1f}", f"{ok / run_['window']:.1f}", f"{run_['cpu']:.1f}", run_["calls"],
                     len(run_["problems"]), run_["exit"]])
    emit(table(["pair", "while", "rotations done", "not done", "first start → last finish (s)", "rotations/s",
                "server CPU (s)", "moto calls", "server warnings", "exit after SIGTERM"], rows))
    for run_ in runs:
        for what, count in sorted(problem_kinds(run_["problems"]).items(), key=lambda kv: -kv[1]):
            emit(f"\n- pair {run_['pair']} ({'under load' if run_['loaded'] else 'no load'}): {count} × `{what}`")


def problem_kinds(lines):
    """Server log lines grouped by level, target and message (timestamps and key=value fields dropped)."""
    kinds = {}
    for line in lines:
        words = [w for w in line.split()[1:] if "=" not in w]
        what = " ".join(words)[:200]
        kinds[what] = kinds.get(what, 0) + 1
    return kinds


def wrk(url, token, seconds, conns, threads):
    """One wrk run; (requests/s, p50 ms, p99 ms, non-2xx answers)."""
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    _, out, _, _ = run(cmd)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M)}

    def ms(v):
        n, unit = float(re.match(r"[\d.]+", v).group(0)), re.sub(r"[\d.]+", "", v)
        return n * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, ms(lat["50"]), ms(lat["99"]), int(bad.group(1)) if bad else 0


def api_scenario():
    """Authenticated reads side by side with /healthz, one server, one run: one account, a page of
    100 of API_ACCOUNTS (filler accounts seeded straight into the vault), the overview."""
    n = int(os.environ.get("API_ACCOUNTS", "100000"))
    secs = int(os.environ.get("API_SECONDS", "10"))
    # Closed-loop load: at C connections a request's latency is C / throughput, the queue, once the
    # server is saturated; a small C shows what one request costs, a large one what the server carries.
    conn_list = [int(c) for c in os.environ.get("API_CONNECTIONS", "64,8").split(",")]
    threads = int(os.environ.get("API_THREADS", "2"))
    log(f"API: {n} accounts, wrk {threads} threads, {conn_list} connections, {secs} s per endpoint")
    moto = Moto("api")
    try:
        vault = os.path.join(seeded_copy("api-vault", moto.url, lambda v: seed_vault(v, filler=n)), "vault.db")
    finally:
        moto.stop()
    _, out, _, _ = run([REKEY, "token", "create", "--role", "auditor", "--name", "bench-api", "--output", "json"],
                       rekey_env(vault))
    token = json.loads(out)["token"]
    srv = Server("api", vault, token, "1h", 8, {"REKEY_SCHEDULER_ENABLED": "false"})
    try:
        first = json.loads(srv.get("/api/v1/accounts?limit=1&sort=due")[1])
        account = first["items"][0]["id"]
        rows = []
        for conns, (name, path, auth) in [(c, e) for c in conn_list for e in [("`/healthz` (floor)", "/healthz", False),
                                 ("`GET /api/v1/accounts/{id}`", f"/api/v1/accounts/{account}", True),
                                 ("`GET /api/v1/accounts?limit=100`", "/api/v1/accounts?limit=100", True),
                                 ("`GET /api/v1/accounts?limit=100&sort=due&overdue=false`",
                                  "/api/v1/accounts?limit=100&sort=due&overdue=false", True),
                                 ("`GET /api/v1/overview`", "/api/v1/overview", True)]]:
            rps, p50, p99, bad = wrk(srv.url + path, token if auth else None, secs, conns, threads)
            rows.append((conns, name, rps, p50, p99, bad))
            log(f"API {path} ({conns} connections): {rps:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, non-2xx {bad}")
        audit = json.loads(srv.get("/api/v1/audit?limit=1")[1])["total"]
    finally:
        srv.terminate()
    floor = {r[0]: r[2] for r in rows if r[1].startswith("`/healthz`")}
    emit(f"### API: authenticated reads beside `/healthz` ({n} accounts)\n\n"
         + table(["connections", "endpoint", "req/s", "of the floor", "p50 ms", "p99 ms", "non-2xx"],
                 [[str(r[0]), r[1], f"{r[2]:.0f}", f"{100 * r[2] / floor[r[0]]:.0f}%", f"{r[3]:.1f}", f"{r[4]:.1f}",
                   str(r[5])] for r in rows])
         + f"\n\nAudit events in the vault after the run: {audit} (answered reads are not audited by default).\n")


def routes_scenario():
    """What each route of the load scenario's API mix costs the server: ROUTES_ACCOUNTS due
    accounts rotated once by the scheduler (rotations, audit events, last successes), then wrk
    on each route in turn with the server's CPU time read before and after."""
    n = int(os.environ.get("ROUTES_ACCOUNTS", "1000"))
    secs = int(os.environ.get("ROUTES_SECONDS", "5"))
    conns = int(os.environ.get("ROUTES_CONNECTIONS", "8"))
    log(f"ROUTES: {n} accounts rotated once, wrk 2 threads, {conns} connections, {secs} s per route")
    moto = Moto("routes")
    rows = []
    try:
        users = os.path.join(WORK, "routes-users.tsv")
        seed_iam(moto, "load", n, users)
        vault = os.path.join(seeded_copy("routes-vault", moto.url, lambda v: seed_vault(v, users=users, due=True)),
                             "vault.db")
        _, out, _, _ = run([REKEY, "token", "create", "--role", "admin", "--name", "bench-routes", "--output",
                            "json"], rekey_env(vault))
        token = json.loads(out)["token"]
        srv = Server("routes", vault, token, "1s", 64, {"REKEY_PROVIDER_CONCURRENCY": "64",
                                                        "REKEY_AWS_PACE": MOTO_PACE})
        try:
            deadline = time.monotonic() + 600
            while finished(srv.outcomes()) < n:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"ROUTES: {finished(srv.outcomes())} of {n} rotations finished in 600 s")
                time.sleep(0.5)
            # What the server spends with no request (its scheduler's ticks and heartbeats),
            # taken out of each route's figure.
            cpu = srv.cpu()
            time.sleep(secs)
            idle = (srv.cpu() - cpu) / secs
            account = json.loads(srv.get("/api/v1/accounts?limit=1")[1])["items"][0]["id"]
            routes = [("`/healthz` (floor)", "/healthz", False),
                      ("account.show", f"/api/v1/accounts/{account}", True),
                      ("account.list (page of 100)", "/api/v1/accounts", True),
                      ("rotation.list (20)", "/api/v1/rotations?limit=20", True),
                      ("rotation.list_account (10)", f"/api/v1/rotations?account={account}&limit=10", True),
                      ("audit.page (100)", "/api/v1/audit?limit=100", True),
                      ("audit.page by action (100)", "/api/v1/audit?action=rotation.phase&limit=100", True),
                      ("provider.list", "/api/v1/providers", True),
                      ("provider.show", "/api/v1/providers/bench", True),
                      ("metrics", "/metrics", True)]
            for name, path, auth in routes:
                cpu = srv.cpu()
                rps, p50, p99, bad = wrk(srv.url + path, token if auth else None, secs, conns, 2)
                cpu = max(0.0, srv.cpu() - cpu - idle * secs)
                rows.append([name, f"{rps:.0f}", f"{p50:.2f}", f"{p99:.2f}", f"{1e6 * cpu / (rps * secs):.0f}", bad])
                log(f"ROUTES {name}: {rps:.0f} req/s, server CPU {1e6 * cpu / (rps * secs):.0f} us per request")
        finally:
            srv.terminate()
    finally:
        moto.stop()
    emit(f"### ROUTES: the load scenario's API routes one at a time ({n} accounts rotated once, {conns} "
         f"connections; the idle server's {1e3 * idle:.1f} ms of CPU per second taken out)\n\n" + table(["route", "req/s", "p50 ms", "p99 ms", "server CPU per request (µs)", "non-2xx"],
                                     rows))


def report_floor(moto):
    """The same three IAM calls the report makes, straight from boto3 with nothing done with the
    answers: what the emulator itself takes (the floor of any report through it)."""
    import boto3
    iam = boto3.client("iam", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    t = time.monotonic()
    while iam.generate_credential_report()["State"] != "COMPLETE":
        time.sleep(0.05)
    iam.get_credential_report()
    for _ in iam.get_paginator("get_account_authorization_details").paginate(Filter=["User"]):
        pass
    return time.monotonic() - t


# ---------------------------------------------------------------------------------------------
def report_scenario():
    """The compliance report over R_USERS IAM users (each with an access key, every fifth with a
    console password), every key managed by the vault: through `rekey report` and through
    `GET /api/v1/reports/compliance` on a server, with the IAM calls each made (moto's log)."""
    n = int(os.environ.get("R_USERS", "10000"))
    log(f"R: compliance report over {n} users, {PAIRS} rounds")
    moto = Moto("report")
    rows, cli, web, floors = [], [], [], []
    try:
        users = os.path.join(WORK, "r-users.tsv")
        seed_iam(moto, "user", n, users, key_every=1, password_every=5, path="/")
        vault = os.path.join(seeded_copy("r-vault", moto.url, lambda v: seed_vault(v, users=users)), "vault.db")
        _, out, _, _ = run([REKEY, "token", "create", "--role", "auditor", "--name", "bench-report", "--output",
                            "json"], rekey_env(vault))
        srv = Server("report", vault, json.loads(out)["token"], "1h", 8, {"REKEY_SCHEDULER_ENABLED": "false"})
        try:
            for i in range(PAIRS):
                before = moto.calls()
                wall, cpu, rss, out, _ = run_measured([REKEY, "report", "-o", "json"], rekey_env(vault), (0, 9))
                calls = moto.calls() - before
                report = json.loads(out)
                managed = sum(1 for r in report["rows"] if r["account"])
                if managed < n:
                    raise RuntimeError(f"the report names {managed} managed keys of {n}")
                before = moto.calls()
                t = time.monotonic()
                status, body = srv.get("/api/v1/reports/compliance")
                api_wall = time.monotonic() - t
                api_calls = moto.calls() - before
                if status != 200 or len(json.loads(body)["rows"]) != len(report["rows"]):
                    raise RuntimeError(f"the API's report differs: {status} {body[:300]}")
                floor = report_floor(moto)
                cli.append(wall)
                web.append(api_wall)
                floors.append(floor)
                rows.append([i + 1, len(report["rows"]), calls, f"{wall:.2f}", f"{cpu:.2f}", f"{rss:.0f}", api_calls,
                             f"{api_wall:.2f}", f"{floor:.2f}"])
                log(f"R round {i + 1}: CLI {wall:.2f} s / {calls} calls, API {api_wall:.2f} s / {api_calls} calls, "
                    f"the calls alone {floor:.2f} s")
        finally:
            srv.terminate()
    finally:
        moto.stop()
    emit(f"\n### R: compliance report over {n} IAM users, all managed\n")
    emit(table(["round", "rows", "`rekey report`: IAM calls", "wall (s)", "CPU (s)", "peak RSS (MiB)",
                "API: IAM calls", "`GET /api/v1/reports/compliance` wall (s)",
                "the same IAM calls from boto3 (s)"], rows))
    emit(f"\nMedians: `rekey report` {med(cli):.2f} s, the API {med(web):.2f} s, the IAM calls alone (boto3, "
         f"answers unread: the emulator's floor) {med(floors):.2f} s. Target ≤ 3 s.")


SCENARIOS = {"P1": p1, "P1M": p1m, "P2": p2, "P3": p3, "P4": p4, "P5": p5, "L": load_scenario, "API": api_scenario,
             "ROUTES": routes_scenario, "R": report_scenario}


def main():
    wanted = [a.upper() for a in sys.argv[1:]] or list(SCENARIOS)
    for w in wanted:
        if w not in SCENARIOS:
            sys.exit(f"unknown scenario {w}; choose from {', '.join(SCENARIOS)}")
    os.makedirs(WORK, exist_ok=True)
    try:
        for w in wanted:
            t = time.monotonic()
            SCENARIOS[w]()
            log(f"{w} took {time.monotonic() - t:.0f} s")
    finally:
        for p in PROCS:
            stop(p)


if __name__ == "__main__":
    main()
