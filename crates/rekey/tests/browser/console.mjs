//! Drives the web console in Debian's chromium through playwright-core (no browser download).
//! Run by crates/rekey/tests/console_browser.rs against a `rekey serve` on a seeded vault; the
//! environment names the server, the tokens per role and the accounts to act on. Each check
//! prints `ok - NAME` or `not ok - NAME`; any failure exits 1. Screenshots and the measurements
//! (sign-in to a usable page, a filter keystroke to rendered rows) go to REKEY_ARTIFACTS.

import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env("REKEY_URL");
const TOKENS = { admin: env("REKEY_ADMIN_TOKEN"), operator: env("REKEY_OPERATOR_TOKEN"), auditor: env("REKEY_AUDITOR_TOKEN") };
const KEY_ACCOUNT = env("REKEY_KEY_ACCOUNT");
const PASSWORD_ACCOUNT = env("REKEY_PASSWORD_ACCOUNT");
const TARGET_ACCOUNT = env("REKEY_TARGET_ACCOUNT");
const EXPIRING_TOKEN = env("REKEY_EXPIRING_TOKEN");
const OUT = env("REKEY_ARTIFACTS");
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

const results = [];
const measured = { sign_in_ms: [], filter_keystroke_ms: [] };
const problems = [];

function check(cond, message) { if (!cond) throw new Error(message); }

async function api(token, method, path) {
  const r = await fetch(`${BASE}${path}`, { method, headers: { Authorization: `Bearer ${token}` } });
  const body = await r.json();
  check(r.ok, `${method} ${path}: ${r.status} ${JSON.stringify(body)}`);
  return body;
}

async function step(name, page, fn) {
  try {
    await fn();
    results.push(true);
    console.log(`ok - ${name}`);
  } catch (e) {
    results.push(false);
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split("\n").join("\n  ")}`);
    if (page) await page.screenshot({ path: join(OUT, `failed-${results.length}.png`), fullPage: true }).catch(() => {});
  }
}

/** A page that records script errors and CSP violations. */
async function newPage(browser, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...opts });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) problems.push(`console error: ${m.text()}`); });
  return page;
}

/** Signs in with `token`; records the milliseconds from submit to a drawn overview. */
async function signIn(page, token) {
  await page.goto(`${BASE}/ui/#/overview`);
  await page.locator("#token").fill(token);
  const started = Date.now();
  await page.locator("#login-form button[type=submit]").click();
  await page.locator("[data-count=accounts] b").waitFor();
  measured.sign_in_ms.push(Date.now() - started);
}

/** Sets the search box to `value` as one keystroke would; the milliseconds until the rows are redrawn. */
function keystroke(page, value) {
  return page.evaluate((v) => new Promise((resolve) => {
    const input = document.getElementById("f-q");
    const rows = document.getElementById("account-rows");
    const started = performance.now();
    new MutationObserver((_, obs) => { obs.disconnect(); resolve(Math.round(performance.now() - started)); })
      .observe(rows, { childList: true });
    input.value = v;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }), value);
}

const ready = (page) => page.locator("main[data-state=ready]").waitFor();

/** The id of the focused element ("BODY" when nothing has the focus), once it is `want` (or after 5 s, whatever it is; "" waits not). */
async function focusedId(page, want) {
  const now = () => page.evaluate(() => (document.activeElement && document.activeElement !== document.body ? document.activeElement.id || document.activeElement.tagName : "BODY"));
  for (let i = 0; want && i < 50 && (await now()) !== want; i += 1) await page.waitForTimeout(100);
  return now();
}

/** The JSON bodies of the requests `page` sends to URLs matching `re`, as they are sent. */
function requestsTo(page, re) {
  const seen = [];
  page.on("request", (r) => { if (re.test(r.url())) seen.push({ method: r.method(), body: r.postData() }); });
  return seen;
}

async function openAccount(page, id) {
  await page.goto(`${BASE}/ui/#/accounts/${id}`);
  // From another account's page the hash changes without a load: wait for this account's page.
  await page.locator("main code", { hasText: new RegExp(`^${id}$`) }).first().waitFor();
  await page.locator("#account-title").waitFor();
}

async function axe(page, label) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations
    .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help })));
  const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(!bad.length, `${label}: ${JSON.stringify(bad)}`);
  return found.length;
}

async function main() {
  // No background networking: this machine's network is closed, and the tests need none of it.
  const args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"];
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args });
  const expiring = await newPage(browser);
  await step("a token that will expire signs in", expiring, async () => {
    await signIn(expiring, EXPIRING_TOKEN);
  });
  const page = await newPage(browser);

  await step("signed out: only the sign-in form, no navigation", page, async () => {
    await page.goto(`${BASE}/ui/`);
    await page.locator("#token").waitFor();
    check(!(await page.locator("#nav").isVisible()), "the navigation shows while signed out");
  });
  await step("sign-in as admin to a usable overview", page, async () => {
    await signIn(page, TOKENS.admin);
    check((await page.locator("#who").textContent()).includes("admin"), "the header names the role");
    check(await page.locator("#nav").isVisible(), "navigation shown");
    await page.screenshot({ path: join(OUT, "overview.png") });
  });
  await step("overview counts equal the API's, and each links to its filtered list", page, async () => {
    await page.reload();
    await page.locator("[data-count=accounts] b").waitFor();
    const overview = await api(TOKENS.admin, "GET", "/api/v1/overview");
    for (const key of ["accounts", "overdue", "heartbeat_failing", "rotations_failed", "foreign_keys", "checked_out"]) {
      const shown = Number((await page.locator(`[data-count=${key}] b`).textContent()).replace(/,/g, ""));
      check(shown === overview[key], `${key}: page ${shown}, API ${overview[key]}`);
    }
    await page.locator("[data-count=heartbeat_failing]").click();
    await ready(page);
    check(page.url().includes("#/accounts?heartbeat=failing"), `link went to ${page.url()}`);
    const text = await page.locator("#account-count").textContent();
    check(text.endsWith(`of ${overview.heartbeat_failing.toLocaleString("en")}`), `list says ${text}`);
  });
  await step("the overview counts in words with the right number (1 password, not 1 passwords)", page, async () => {
    await page.goto(`${BASE}/ui/#/overview`);
    await page.locator("[data-count=accounts] b").waitFor();
    const { by_kind: kinds } = await api(TOKENS.admin, "GET", "/api/v1/overview");
    check(kinds.password === 1, `one password account in this vault: ${JSON.stringify(kinds)}`);
    const text = await page.locator("main p.muted").first().textContent();
    check(text.includes(", 1 password.") && !/\b1 passwords\b/.test(text), `the overview says: ${text}`);
    const label = await page.locator("[data-count=checked_out] span").textContent();
    const n = Number(await page.locator("[data-count=checked_out] b").textContent());
    check(label === (n === 1 ? "Password checked out" : "Passwords checked out"), `${n} ${label}`);
  });
  await step("a filter the server refuses: its error replaces the rows and the count", page, async () => {
    await page.goto(`${BASE}/ui/#/accounts?q=svc`);
    await page.locator("#account-count", { hasText: / of 1$/ }).waitFor();
    await page.locator("#f-folder").fill("bad folder");
    await page.locator("main[data-state=error]").waitFor();
    const error = await page.locator("#account-error").textContent();
    check(/folder/i.test(error), `the error is shown in the list: ${error}`);
    check((await page.locator("#account-rows tr").count()) === 1 && !(await page.locator("#account-rows a").count()), "no stale row");
    const count = await page.locator("#account-count").textContent();
    check(!/ of /.test(count), `no stale count: ${count}`);
    await page.locator("#f-folder").fill("");
    await page.locator("#account-count", { hasText: / of 1$/ }).waitFor();
  });
  await step("filter and paging at 10,000 accounts: one page of rows in the DOM", page, async () => {
    await page.goto(`${BASE}/ui/#/accounts`);
    await ready(page);
    const { total } = await api(TOKENS.admin, "GET", "/api/v1/accounts?limit=1");
    check(total >= 10_000, `only ${total} accounts seeded`);
    check((await page.locator("#account-rows tr").count()) === 100, "100 rows on the first page");
    await page.locator("#next-page").click();
    await page.locator("#account-count", { hasText: "101–200" }).waitFor();
    check((await page.locator("#account-rows tr").count()) === 100, "100 rows on the second page");
    await page.screenshot({ path: join(OUT, "accounts.png") });
    await page.locator("#f-q").fill("bulk-00999");
    await page.locator("#account-count", { hasText: /^1–10 of 10$/ }).waitFor();
    for (const v of ["bulk-00999", "bulk-0099", "bulk-009", "bulk-00", "bulk-0"]) measured.filter_keystroke_ms.push(await keystroke(page, v));
    await page.locator("#account-count", { hasText: /^1–100 of 10,000$/ }).waitFor();
    measured.filter_keystroke_ms.push(await keystroke(page, "bulk-009990"));
    check((await page.locator("#account-rows tr").count()) === 1, "one account matches bulk-009990");
    check(page.url().includes("q=bulk-009990"), `the filter is in the URL: ${page.url()}`);
    await page.goBack();
    await page.locator("h1", { hasText: "Accounts" }).waitFor();
  });
  await step("account page: settings, key, every secret version, heartbeat, history", page, async () => {
    await openAccount(page, KEY_ACCOUNT);
    const key = await page.locator("#current-key").textContent();
    check(key.startsWith("AKIA"), "the current key id is shown");
    for (const h of ["Settings", "Secret versions", "Heartbeat", "Rotation history"]) check(await page.locator("h2", { hasText: h }).isVisible(), h);
    const settingsText = await page.locator("section[aria-labelledby=h-settings]").innerText();
    check(!/"\w+":|_ms\b|\d{6,}/.test(settingsText), `settings read as text, not JSON or milliseconds: ${settingsText}`);
    const versions = await api(TOKENS.admin, "GET", `/api/v1/accounts/${KEY_ACCOUNT}/versions`);
    check((await page.locator("#versions tbody tr").count()) === versions.length, `${versions.length} versions in the table`);
    const current = page.locator("#versions tbody tr").first();
    check((await current.locator("td[data-label=State]").textContent()) === "current", "the newest version first, current");
    check((await current.locator("td[data-label='Key id']").textContent()) === key, "its key id is the current key");
    const headings = await page.locator("#versions th").allTextContents();
    check(headings.join(",") === "Version,State,Key id,Origin,Stored", `facts only, no secret column: ${headings}`);
    await page.screenshot({ path: join(OUT, "account.png"), fullPage: true });
  });
  await step("admin edits settings in a dialog (PATCH), the page shows them", page, async () => {
    await openAccount(page, KEY_ACCOUNT);
    await page.locator("#act-settings").click();
    await page.locator("#set-title").fill("Deploy key");
    await page.locator("#set-every").fill("30d");
    await page.locator("#set-every").press("Enter");
    await page.locator("#toast", { hasText: "Settings saved" }).waitFor();
    await page.locator("p", { hasText: "Deploy key" }).first().waitFor();
    const a = await api(TOKENS.admin, "GET", `/api/v1/accounts/${KEY_ACCOUNT}`);
    check(a.title === "Deploy key" && a.settings.every_ms === 30 * 86_400_000, `stored: ${a.title} ${a.settings.every_ms}`);
  });
  await step("settings: a refused value stays in the dialog beside its fields; emptying the schedule removes it", page, async () => {
    await openAccount(page, KEY_ACCOUNT);
    await page.locator("#act-settings").click();
    await page.keyboard.press("Escape");
    check((await focusedId(page, "act-settings")) === "act-settings", "Escape gives the focus back to the button that opened the dialog");
    const patches = requestsTo(page, /\/settings$/);
    await page.locator("#act-settings").click();
    await page.locator("#set-every").fill("10s");
    await page.locator("#set-every").press("Enter");
    const error = page.locator("#dialog-error");
    await error.waitFor();
    const said = await error.textContent();
    check(await page.locator("#dialog").isVisible(), "the dialog stays open");
    check(/every/i.test(said) && !/JSON|line \d+ column/.test(said), `the server's reason, in form words: ${said}`);
    check((await page.locator("#set-every").inputValue()) === "10s", "what was typed is kept");
    await page.screenshot({ path: join(OUT, "settings-refused.png") });
    const every = page.locator("#set-every");
    check((await every.getAttribute("aria-describedby")).split(" ").includes("dialog-error") && (await every.getAttribute("aria-invalid")) === "true",
      "the field is marked invalid and described by the error");
    check((await page.locator("#set-title").getAttribute("aria-invalid")) === null, "a field left as it was is not marked invalid");
    check((await focusedId(page, "set-every")) === "set-every", "the focus stays in the field being corrected");
    await every.fill("");
    await page.locator("#set-cron").fill("");
    await page.locator("#dialog-ok").click();
    await page.locator("#toast", { hasText: "Settings saved" }).waitFor();
    const bodies = patches.map((r) => r.body);
    check(bodies.length === 2 && bodies[0] === JSON.stringify({ every: "10s" }) && bodies[1] === JSON.stringify({ no_schedule: true }),
      `only what changed is sent, and no empty duration: ${bodies}`);
    const a = await api(TOKENS.admin, "GET", `/api/v1/accounts/${KEY_ACCOUNT}`);
    check(a.settings.every_ms == null && a.settings.cron == null, `the schedule is gone: ${JSON.stringify(a.settings)}`);
    await page.locator("section[aria-labelledby=h-settings] dd", { hasText: /^none$/ }).first().waitFor();
    check((await focusedId(page, "act-settings")) === "act-settings", "the focus is back on Edit settings after saving");
    // Emptying one schedule field removes that one only (sent as null; no_schedule would remove both).
    const saved = async (n) => {
      await page.locator("#dialog-ok").click();
      await page.locator("#dialog").waitFor({ state: "hidden" });
      check(patches.length === n, `${n} settings requests: ${patches.map((r) => r.body)}`);
    };
    await page.locator("#act-settings").click();
    await page.locator("#set-every").fill("7d");
    await page.locator("#set-cron").fill("0 3 * * 1");
    await saved(3);
    await page.locator("#act-settings").click();
    await page.locator("#set-every").fill("");
    await saved(4);
    check(patches[3].body === JSON.stringify({ every: null }), `emptying one field sends it as null: ${patches[3].body}`);
    const b = await api(TOKENS.admin, "GET", `/api/v1/accounts/${KEY_ACCOUNT}`);
    check(b.settings.every_ms == null && b.settings.cron === "0 3 * * 1", `the cron schedule stays: ${JSON.stringify(b.settings)}`);
    await page.locator("#act-settings").click();
    await page.locator("#set-cron").fill("");
    await saved(5);
    check(patches[4].body === JSON.stringify({ no_schedule: true }), `emptying the last one sends no_schedule: ${patches[4].body}`);
  });
  await step("delivery targets are listed by type and destination", page, async () => {
    await openAccount(page, TARGET_ACCOUNT);
    const text = await page.locator("section[aria-labelledby=h-settings]").innerText();
    check(text.includes("ssm: SSM parameter /ci/deploy-key") && text.includes("secrets-manager: Secrets Manager secret ci/deploy"), `targets: ${text}`);
    check(!/\btarget\b/.test(text), `no bare "target": ${text}`);
  });
  await step("an account page shows only the settings of its kind", page, async () => {
    const terms = async () => (await page.locator("section[aria-labelledby=h-settings] dt").allTextContents()).map((t) => t.trim());
    await openAccount(page, TARGET_ACCOUNT);
    const key = await terms();
    check(key.includes("verify") && key.includes("targets"), `an access key's settings: ${key}`);
    check(!key.some((t) => /password|login profile/.test(t)), `no password rules on an access key: ${key}`);
    await openAccount(page, PASSWORD_ACCOUNT);
    const pw = await terms();
    check(pw.includes("password") && pw.includes("create login profile"), `a password's settings: ${pw}`);
    check(!pw.some((t) => /verify|previous key|deactivate|delete after|retire|cutover|targets/.test(t)), `no access-key settings on a password: ${pw}`);
  });
  await step("an error toast does not outlive its page", page, async () => {
    await openAccount(page, TARGET_ACCOUNT);
    await page.locator("#act-heartbeat").click();
    await page.locator("#toast.error").waitFor();
    await page.locator("#nav a[data-view=accounts]").click();
    await ready(page);
    check(!(await page.locator("#toast").isVisible()), `the error still shows: ${await page.locator("#toast").textContent()}`);
  });
  await step("a rotation that does not exist: the error in the page, and no polling", page, async () => {
    const polls = requestsTo(page, /\/api\/v1\/rotations\/rot_nope/);
    await page.goto(`${BASE}/ui/#/rotations/rot_nope`);
    await page.locator("main[data-state=error]").waitFor();
    const said = await page.locator("#rotation-error").textContent();
    check(/rot_nope|not found|no such/i.test(said), `the page says why: ${said}`);
    await page.screenshot({ path: join(OUT, "rotation-missing.png") });
    const before = polls.length;
    await page.waitForTimeout(4_000);
    check(polls.length === before, `asked again ${polls.length - before} times after a 404`);
  });
  await step("report: the maximum age is checked, and a refused report leaves a usable form", page, async () => {
    const reports = requestsTo(page, /\/reports\/compliance/);
    await page.goto(`${BASE}/ui/#/report`);
    for (const bad of ["0", ""]) {
      await page.locator("#max-age").fill(bad);
      await page.locator("button", { hasText: "Run report" }).click();
      await page.locator("#max-age-error").waitFor();
      check((await page.locator("#max-age").getAttribute("aria-invalid")) === "true", `${JSON.stringify(bad)} is marked invalid`);
    }
    check(!reports.length, `a report ran for an invalid age: ${reports.length}`);
    await page.route("**/api/v1/reports/compliance**", (r) => r.fulfill({ status: 400, contentType: "application/json",
      body: JSON.stringify({ code: "usage", message: "max_age_days must be 1 to 3650", hint: "see /openapi.json" }) }));
    await page.locator("#max-age").fill("30");
    await page.locator("button", { hasText: "Run report" }).click();
    await page.locator("#max-age-error", { hasText: "max_age_days must be 1 to 3650" }).waitFor();
    check(!(await page.locator("#report-out", { hasText: "Running" }).count()), "no endless \"Running the report…\"");
    await page.screenshot({ path: join(OUT, "report-refused.png") });
    await page.unroute("**/api/v1/reports/compliance**");
    await page.locator("button", { hasText: "Run report" }).click();
    await page.locator("#report-out .cards").waitFor();
    check(!(await page.locator("#max-age-error").isVisible()), "the error is gone once the report runs");
    check((await page.locator("#report-out p.muted").textContent()).includes("max age 30 days"), "the report ran for 30 days");
  });
  await step("reveal: masked until shown, hidden again on a second click", page, async () => {
    await openAccount(page, KEY_ACCOUNT);
    await page.locator("#act-reveal").click();
    check((await focusedId(page, "dialog-cancel")) === "dialog-cancel", "a reveal's confirmation starts on Cancel");
    await page.locator("#dialog-ok").click();
    const value = page.locator("#dialog .secret");
    await value.waitFor();
    check((await value.textContent()).startsWith("••"), "masked at first");
    await page.locator("#dialog button", { hasText: "Show" }).click();
    const shown = await value.textContent();
    const truth = await api(TOKENS.admin, "POST", `/api/v1/accounts/${KEY_ACCOUNT}/reveal`);
    check(shown === truth.secret, "the revealed secret is the vault's");
    await page.locator("#dialog button", { hasText: "Hide" }).click();
    check((await value.textContent()).startsWith("••"), "masked again");
    await page.keyboard.press("Escape");
    check(!(await page.locator("#dialog").isVisible()), "Escape closes the dialog");
    check((await focusedId(page, "act-reveal")) === "act-reveal", "the focus is back on Reveal secret");
  });
  await step("a rotation watched until it is done", page, async () => {
    await openAccount(page, KEY_ACCOUNT);
    const before = await page.locator("#current-key").textContent();
    await page.locator("#act-rotate").click();
    check((await page.locator("#dialog-title").textContent()).includes("Rotate"), "a confirmation first");
    check((await focusedId(page, "dialog-cancel")) === "dialog-cancel", "a rotation's confirmation starts on Cancel");
    await page.locator("#dialog-ok").click();
    await page.waitForURL(/#\/rotations\//);
    await page.locator("main[data-state=finished]").waitFor({ timeout: 120_000 });
    const outcome = await page.locator("#rotation-outcome").textContent();
    check(outcome === "Outcome: done", `the outcome: ${outcome}`);
    await page.screenshot({ path: join(OUT, "rotation.png"), fullPage: true });
    await openAccount(page, KEY_ACCOUNT);
    const after = await page.locator("#current-key").textContent();
    check(after !== before, "a new current key");
    const newest = page.locator("#versions tbody tr").first();
    check((await newest.locator("td[data-label='Key id']").textContent()) === after, "the new key is the newest version");
    check((await newest.locator("td[data-label=Origin]").textContent()) === "created", "created by the rotation");
  });
  await step("rotations filtered by outcome and phase, the filters in the URL", page, async () => {
    const done = await api(TOKENS.admin, "GET", "/api/v1/rotations?outcome=done&limit=1");
    check(done.total >= 1, "the rotation above is done");
    await page.goto(`${BASE}/ui/#/rotations?outcome=done`);
    await page.locator("#rotation-count", { hasText: new RegExp(`^${done.total.toLocaleString("en")} rotations?$`) }).waitFor();
    const outcomes = await page.locator("#rotation-rows td[data-label=Outcome]").allTextContents();
    check(outcomes.length >= 1 && outcomes.every((o) => o === "done"), `outcomes shown: ${outcomes}`);
    await page.locator("#r-phase").selectOption("aborted");
    await page.locator("#rotation-count", { hasText: /^0 rotations$/ }).waitFor();
    check(page.url().includes("outcome=done") && page.url().includes("phase=aborted"), `filters in the URL: ${page.url()}`);
    await page.locator("#r-outcome").selectOption("");
    const aborted = await api(TOKENS.admin, "GET", "/api/v1/rotations?phase=aborted&limit=1");
    await page.locator("#rotation-count", { hasText: new RegExp(`^${aborted.total} rotations?$`) }).waitFor();
  });
  await step("a filter past 10,000 matches counts to 10,000+, a bulk confirmation counts them all", page, async () => {
    await page.goto(`${BASE}/ui/#/accounts?checked_out=false`);
    await page.locator("#account-count", { hasText: /^1–100 of 10,000\+$/ }).waitFor();
    const capped = await api(TOKENS.admin, "GET", "/api/v1/accounts?limit=1&checked_out=false");
    check(capped.total === 10_000 && capped.total_exact === false, `the list's total: ${JSON.stringify(capped)}`);
    const { total } = await api(TOKENS.admin, "GET", "/api/v1/accounts?limit=1&checked_out=false&count=exact");
    check(total > 10_000, `${total} accounts are not checked out`);
    await page.locator("[data-bulk=heartbeat]").click();
    await page.locator("#dialog[open]").waitFor();
    const title = await page.locator("#dialog-title").textContent();
    check(title === `Heartbeat ${total.toLocaleString("en")} accounts?`, `the confirmation states the exact count: ${title}`);
    check((await focusedId(page, "dialog-cancel")) === "dialog-cancel", "a bulk confirmation starts on Cancel");
    await page.keyboard.press("Enter");
    check(!(await page.locator("#dialog").isVisible()), "Enter on the first focus cancels");
    const back = await page.waitForFunction(() => document.activeElement === document.querySelector("[data-bulk=heartbeat]"), null, { timeout: 5_000 })
      .then(() => true, () => false);
    check(back, `the focus is back on the bulk button, not on ${await focusedId(page, "")}`);
  });
  await step("accessibility: no serious or critical axe violations", null, async () => {
    const scan = await newPage(browser, { bypassCSP: true });
    await signIn(scan, TOKENS.admin);
    measured.axe_minor = await axe(scan, "overview");
    for (const [hash, marker] of [["#/accounts", "main[data-state=ready]"], [`#/accounts/${KEY_ACCOUNT}`, "#account-title"], ["#/audit", "#audit-rows tr"]]) {
      await scan.goto(`${BASE}/ui/${hash}`);
      await scan.locator(marker).first().waitFor();
      measured.axe_minor += await axe(scan, hash);
    }
    await scan.context().close();
  });
  await page.context().close();

  const operator = await newPage(browser);
  await step("operator: check-out and check-in, no reveal", operator, async () => {
    await signIn(operator, TOKENS.operator);
    check(!(await operator.locator("#nav a[data-view=audit]").isVisible()), "no audit log for operators");
    await openAccount(operator, PASSWORD_ACCOUNT);
    check(!(await operator.locator("#act-reveal").count()), "no reveal button for operators");
    await operator.locator("#act-checkout").click();
    await operator.locator("#checkout-ttl").fill("99h");
    await operator.locator("#checkout-ttl").press("Enter");
    await operator.locator("#dialog-error").waitFor();
    check(await operator.locator("#dialog").isVisible(), "a refused ttl keeps the dialog open");
    check((await operator.locator("#checkout-ttl").inputValue()) === "99h", "with what was typed");
    await operator.locator("#checkout-ttl").fill("10m");
    await operator.locator("#checkout-ttl").press("Enter");
    const secret = operator.locator("#dialog .secret");
    await secret.waitFor();
    check((await secret.textContent()).startsWith("••"), "the password is masked");
    await operator.locator("#dialog-cancel").click();
    await operator.locator("#act-checkin").waitFor();
    const holder = operator.locator("#checked-out-by span");
    check((await holder.textContent()) === "operator-console", `the holder is named: ${await holder.textContent()}`);
    check((await holder.getAttribute("title")).startsWith("token:"), "its token id on hover");
    await operator.locator("#act-checkin").click();
    await operator.locator("#toast", { hasText: "Checked in" }).waitFor();
    // Free again once the scheduler has rotated the password that was seen.
    for (let i = 0; i < 120 && !(await operator.locator("#act-checkout").count()); i += 1) {
      await operator.waitForTimeout(500);
      await operator.reload();
      await operator.locator("#account-title").waitFor();
    }
    check((await operator.locator("#checked-out-by").textContent()) === "nobody", "free again after the rotation");
  });
  await step("operator: bulk heartbeat on a filtered selection, after a confirmation with the count", operator, async () => {
    await operator.goto(`${BASE}/ui/#/accounts?q=svc`);
    await operator.locator("#account-count", { hasText: / of 1$/ }).waitFor();
    await operator.locator("[data-bulk=heartbeat]").click();
    await operator.locator("#dialog[open]").waitFor();
    const title = await operator.locator("#dialog-title").textContent();
    check(title === "Heartbeat 1 account?", `the confirmation states the count: ${title}`);
    await operator.locator("#dialog-ok").click();
    await operator.locator("#toast", { hasText: "Heartbeat: 1 ok." }).waitFor();
    check((await operator.locator("#bulk-results h2").textContent()) === "Heartbeat outcomes: 1 ok", "the outcome listed");
  });
  await step("operator: bulk rotate on a filtered selection, the count confirmed, each rotation's outcome shown", operator, async () => {
    await operator.goto(`${BASE}/ui/#/accounts?q=svc&kind=access_key`);
    await operator.locator("#account-count", { hasText: / of 1$/ }).waitFor();
    await operator.locator("[data-bulk=rotate]").click();
    await operator.locator("#dialog[open]").waitFor();
    const title = await operator.locator("#dialog-title").textContent();
    check(title === "Rotate 1 account?", `the confirmation states the count: ${title}`);
    await operator.locator("#dialog-ok").click();
    // The dialog's close event (which clears it) comes a task after it closes.
    await operator.waitForFunction(() => !document.getElementById("dialog").open
      && document.getElementById("dialog-title").textContent === "", null, { timeout: 10_000 })
      .catch(() => check(false, "a closed dialog keeps no title"));
    const results = operator.locator("#bulk-results h2");
    await results.waitFor({ timeout: 120_000 });
    check((await results.textContent()) === "Rotation outcomes: 1 done", `outcomes: ${await results.textContent()}`);
    await operator.locator("#bulk-results a", { hasText: "done" }).click();
    await operator.locator("main[data-state=finished]").waitFor();
    check((await operator.locator("#rotation-outcome").textContent()) === "Outcome: done", "the rotation's page agrees");
    check((await operator.locator("main").getAttribute("data-live")) === "events", "the page followed the server's events");
  });
  await operator.context().close();

  const auditor = await newPage(browser);
  await step("auditor: read-only screens, audit log, sign-out hides the navigation", auditor, async () => {
    await signIn(auditor, TOKENS.auditor);
    check((await auditor.locator("#who").textContent()).includes("auditor"), "role in the header");
    await openAccount(auditor, KEY_ACCOUNT);
    for (const id of ["act-rotate", "act-reveal", "act-heartbeat", "act-settings"]) check(!(await auditor.locator(`#${id}`).count()), `no ${id}`);
    await auditor.locator("#nav a[data-view=audit]").click();
    await auditor.locator("#audit-rows tr").first().waitFor();
    await auditor.locator("#logout").click();
    await auditor.locator("#token").waitFor();
    check(!(await auditor.locator("#nav").isVisible()), "the navigation hides on sign-out");
  });
  await auditor.context().close();

  const phone = await newPage(browser, { viewport: { width: 360, height: 780 }, isMobile: true, hasTouch: true });
  await step("360 px wide: no horizontal scroll", phone, async () => {
    await signIn(phone, TOKENS.admin);
    for (const [hash, marker, shot] of [["#/overview", "[data-count=accounts]", "phone-overview.png"],
      ["#/accounts", "main[data-state=ready]", "phone-accounts.png"], [`#/accounts/${KEY_ACCOUNT}`, "#account-title", "phone-account.png"]]) {
      await phone.goto(`${BASE}/ui/${hash}`);
      await phone.locator(marker).first().waitFor();
      const width = await phone.evaluate(() => document.documentElement.scrollWidth);
      await phone.screenshot({ path: join(OUT, shot) });
      check(width <= 360, `${hash} is ${width} px wide`);
    }
  });
  await phone.context().close();

  await step("a token that expires while signed in: signed out, told why in the console's words", expiring, async () => {
    const who = await api(EXPIRING_TOKEN, "GET", "/api/v1/whoami").catch(() => null);
    const until = who && who.expires_at ? Date.parse(who.expires_at) + 1_000 - Date.now() : 0;
    if (until > 0) await expiring.waitForTimeout(until);
    await expiring.locator("#nav a[data-view=accounts]").click();
    await expiring.locator("#token").waitFor();
    check(!(await expiring.locator("#nav").isVisible()), "signed out");
    const reason = await expiring.locator("#login-reason").textContent();
    check(reason === "Your token has expired; sign in again.", `the sign-in screen says: ${reason}`);
    await expiring.screenshot({ path: join(OUT, "expired.png") });
    const toastText = (await expiring.locator("#toast").isVisible()) ? await expiring.locator("#toast").textContent() : "";
    check(!/Authorization|rekey token create/.test(toastText), `an API client's hint: ${toastText}`);
  });
  await expiring.context().close();
  await browser.close();

  results.push(!problems.length);
  console.log(problems.length ? `not ok - no script errors or CSP violations\n  ${problems.join("\n  ")}` : "ok - no script errors or CSP violations");
  writeFileSync(join(OUT, "measurements.json"), JSON.stringify(measured, null, 2));
  console.log(`measurements: ${JSON.stringify(measured)}`);
  const failed = results.filter((r) => !r).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
