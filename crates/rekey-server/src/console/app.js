// rekey web console: a thin client of the REST API (/api/v1). The token lives in this tab's
// sessionStorage and goes out only as a bearer header to this origin. Everything the API returns
// is put on the page as text (never parsed as HTML). Secrets (reveal, check-out) are shown in a
// dialog on request and cleared from the page when it closes.
"use strict";

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("rekey-token") || "";
let accounts = [];
let auditAfter = 0;

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  const text = await resp.text();
  let data;
  try { data = JSON.parse(text); } catch { data = { message: text }; }
  if (!resp.ok) {
    if (resp.status === 401) signOut();
    const err = new Error(`${data.message || resp.statusText}${data.hint ? ` (${data.hint})` : ""}`);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function toast(text, error) {
  const t = $("toast");
  t.textContent = text;
  t.className = error ? "error" : "";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, error ? 8000 : 3500);
}

const fail = (e) => toast(e.message, true);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.appendChild(c instanceof Node ? c : el("td", c ?? "—"));
  return tr;
}

const when = (t) => (t ? t.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "—");
const ref = (a) => `${a.provider}/${a.user_name}/${a.kind}`;

function statusCell(text, good) {
  return el("td", text ?? "—", text == null ? "muted" : good(text) ? "ok" : "bad");
}

function showSecret(title, secret, details) {
  $("dialog-title").textContent = title;
  $("dialog-body").textContent = `${details}\n\n${secret}`;
  const copy = $("dialog-copy");
  copy.hidden = !navigator.clipboard;
  copy.onclick = () => navigator.clipboard.writeText(secret).then(() => toast("Copied"), fail);
  $("dialog").showModal();
}

function showText(title, text) {
  $("dialog-title").textContent = title;
  $("dialog-body").textContent = text;
  $("dialog-copy").hidden = true;
  $("dialog").showModal();
}

// ---- accounts -------------------------------------------------------------------------------

async function loadAccounts() {
  try {
    accounts = await api("GET", "/api/v1/accounts");
    renderAccounts();
  } catch (e) { fail(e); }
}

function renderAccounts() {
  const q = $("filter").value.trim().toLowerCase();
  const body = $("account-rows");
  body.replaceChildren();
  const shown = accounts.filter((a) => !q || [ref(a), a.folder, a.status, a.title, a.id].some((v) => v && String(v).toLowerCase().includes(q)));
  for (const a of shown) {
    const actions = el("td", undefined, "actions");
    const act = (label, fn, cls) => { const b = el("button", label, cls); b.onclick = fn; actions.appendChild(b); };
    act("Rotate", () => rotate(a));
    act("Heartbeat", () => heartbeat(a));
    if (a.kind === "password") {
      act("Check out", () => checkout(a));
      act("Check in", () => checkin(a));
    }
    act("Reveal", () => reveal(a), "danger");
    const name = el("td");
    name.appendChild(el("div", ref(a)));
    name.appendChild(el("div", a.title ? `${a.title} · ${a.id}` : a.id, "muted mono"));
    body.appendChild(row([
      name, a.kind, a.folder, statusCell(a.status, (s) => s === "ok"), el("td", a.current_key_id ?? "—", "mono"),
      when(a.last_rotated_at), when(a.next_due_at),
      statusCell(a.heartbeat ? a.heartbeat.status : null, (s) => s === "ok"), actions,
    ]));
  }
  $("account-count").textContent = `${shown.length} of ${accounts.length}`;
}

async function rotate(a) {
  if (!confirm(`Rotate ${ref(a)} now?`)) return;
  toast(`Rotating ${ref(a)}…`);
  try {
    const r = await api("POST", `/api/v1/accounts/${a.id}/rotate`);
    const report = Array.isArray(r) ? r[0] : r;
    toast(`${ref(a)}: ${report.outcome}${report.error ? ` — ${report.error}` : ""}`, report.outcome !== "done" && report.outcome !== "retiring");
    loadAccounts();
  } catch (e) { fail(e); }
}

async function heartbeat(a) {
  try {
    const h = await api("POST", `/api/v1/accounts/${a.id}/heartbeat`);
    const findings = (h.detail && h.detail.findings) || [];
    toast(`${ref(a)}: ${h.status}${findings.length ? ` — ${findings.join("; ")}` : ""}`, h.status !== "ok");
    loadAccounts();
  } catch (e) { fail(e); }
}

async function checkout(a) {
  const ttl = prompt(`Check out ${ref(a)} for how long? (e.g. 30m; at most 24h)`, "30m");
  if (ttl === null) return;
  try {
    const c = await api("POST", `/api/v1/accounts/${a.id}/checkout`, ttl ? { ttl } : {});
    showSecret(`Checked out: ${ref(a)}`, c.password,
      `User ${c.user}; until ${when(c.checkout && c.checkout.expires_at)}.\nThe password is rotated when you check in or the check-out expires.`);
  } catch (e) { fail(e); }
}

async function checkin(a) {
  try {
    const c = await api("POST", `/api/v1/accounts/${a.id}/checkin`);
    toast(`${ref(a)} checked in; rotation ${c.rotation}`);
  } catch (e) { fail(e); }
}

async function reveal(a) {
  if (!confirm(`Reveal the current secret of ${ref(a)}? This is recorded in the audit log.`)) return;
  try {
    const r = await api("POST", `/api/v1/accounts/${a.id}/reveal`);
    showSecret(`Secret of ${ref(a)}`, r.secret, r.key_id ? `Access key ${r.key_id}` : "Console password");
  } catch (e) { fail(e); }
}

// ---- rotations ------------------------------------------------------------------------------

async function loadRotations() {
  try {
    const open = $("open-only").checked ? "&open=true" : "";
    const list = await api("GET", `/api/v1/rotations?limit=200${open}`);
    const names = new Map(accounts.map((a) => [a.id, ref(a)]));
    const body = $("rotation-rows");
    body.replaceChildren();
    for (const r of list) {
      const phase = el("td", r.phase, r.phase === "aborted" ? "bad" : r.finished_at ? "ok" : "warn");
      const tr = row([when(r.started_at), names.get(r.account_id) || r.account_id, r.kind, phase,
        el("td", r.new_key_id ?? "—", "mono"), el("td", r.old_key_id ?? "—", "mono"), when(r.finished_at), r.error]);
      tr.style.cursor = "pointer";
      tr.onclick = () => showText(`Rotation ${r.id}`, `Phases: ${((r.data && r.data.phases) || []).join(" → ")}\n\n${JSON.stringify(r, null, 2)}`);
      body.appendChild(tr);
    }
  } catch (e) { fail(e); }
}

// ---- compliance -----------------------------------------------------------------------------

async function runReport() {
  toast("Running the compliance report…");
  try {
    const days = Number($("max-age").value) || 90;
    const r = await api("GET", `/api/v1/reports/compliance?max_age_days=${days}`);
    const cards = el("div", undefined, "cards");
    const card = (label, n) => { const c = el("div", undefined, "card"); c.appendChild(el("b", n)); c.appendChild(el("span", label)); cards.appendChild(c); };
    card("credentials", r.rows.length);
    for (const [finding, n] of Object.entries(r.findings)) card(finding, n);
    $("report-summary").replaceChildren(cards, el("p", `Generated ${when(r.generated_at)}; max age ${r.max_age_days} days, unused after ${r.unused_days} days.`, "muted"));
    const body = $("report-rows");
    body.replaceChildren();
    for (const x of r.rows) {
      body.appendChild(row([x.provider, x.user, x.kind, el("td", x.key_id ?? "—", "mono"), x.owner, x.age_days,
        when(x.last_used), el("td", x.findings.join(", ") || "none", x.findings.length ? "bad" : "ok")]));
    }
    toast("Report ready");
  } catch (e) { fail(e); }
}

// ---- audit ----------------------------------------------------------------------------------

async function loadAudit(from) {
  try {
    const after = from === undefined ? auditAfter : from;
    const page = await api("GET", `/api/v1/audit?after=${after}&limit=200`);
    const body = $("audit-rows");
    body.replaceChildren();
    for (const e of page) {
      body.appendChild(row([e.seq, when(e.at), e.actor, e.action, el("td", e.target ?? "—", "mono"),
        el("td", e.outcome, e.outcome === "ok" ? "ok" : "bad"), el("td", JSON.stringify(e.detail), "mono")]));
    }
    if (page.length) auditAfter = page[page.length - 1].seq;
    else toast("No more events");
  } catch (e) { fail(e); }
}

async function verifyAudit() {
  const out = $("verify-result");
  out.textContent = "verifying…";
  out.className = "muted";
  try {
    const r = await api("GET", "/api/v1/audit/verify");
    out.textContent = `chain ${r.status}: ${r.events} events, head ${r.head.slice(0, 16)}…`;
    out.className = "ok";
  } catch (e) {
    out.textContent = e.message;
    out.className = "bad";
  }
}

// ---- shell ----------------------------------------------------------------------------------

function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== name;
  if (name === "accounts") loadAccounts();
  if (name === "rotations") loadRotations();
  if (name === "audit" && !$("audit-rows").children.length) loadAudit(0);
}

function signOut() {
  token = "";
  sessionStorage.removeItem("rekey-token");
  accounts = [];
  for (const id of ["account-rows", "rotation-rows", "report-rows", "audit-rows", "report-summary"]) $(id).replaceChildren();
  $("login").hidden = false;
  $("tabs").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  for (const s of document.querySelectorAll("section.tab")) s.hidden = true;
}

async function signIn(t) {
  token = t;
  try {
    accounts = await api("GET", "/api/v1/accounts");
  } catch (e) {
    token = "";
    fail(e);
    return;
  }
  sessionStorage.setItem("rekey-token", token);
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `token ${token.split("_")[1] || ""}`;
  showTab("accounts");
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").onsubmit = (ev) => { ev.preventDefault(); const t = $("token").value.trim(); $("token").value = ""; signIn(t); };
  $("logout").onclick = signOut;
  for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => showTab(b.dataset.tab);
  $("filter").oninput = renderAccounts;
  $("refresh-accounts").onclick = loadAccounts;
  $("refresh-rotations").onclick = loadRotations;
  $("open-only").onchange = loadRotations;
  $("run-report").onclick = runReport;
  $("audit-first").onclick = () => { auditAfter = 0; loadAudit(0); };
  $("audit-next").onclick = () => loadAudit();
  $("audit-verify").onclick = verifyAudit;
  $("dialog-close").onclick = () => $("dialog").close();
  $("dialog").addEventListener("close", () => { $("dialog-body").textContent = ""; $("dialog-copy").onclick = null; });
  if (token) signIn(token);
});
