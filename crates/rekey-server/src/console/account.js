//! `#/accounts/ID`: one account — what it is, its settings (editable by admins through
//! `PATCH /api/v1/accounts/{id}/settings`), every stored version of its secret (number, state,
//! key id, origin, when; never the secret), the last heartbeat and its findings, the check-out
//! state (the holding token's name), its rotation history, and the actions the token's role
//! allows. A rotation started here is followed on its own page until it finishes.

import { api, can, ref } from "/ui/api.js";
import { el, td, when, facts, tone, action, dialog, confirmDialog, field, secretView, toast } from "/ui/ui.js";
import { targetText } from "/ui/targets.js";
import { watchRotation, phaseTone } from "/ui/rotations.js";
import { holder } from "/ui/accounts.js";

const EDITABLE = [
  ["title", "Title", "text", "empty: no title"], ["folder", "Folder", "text", "empty: in no folder"],
  ["every", "Rotate every", "text", "e.g. 90d"],
  ["cron", "Or on a cron schedule", "text", "e.g. 0 3 * * 1 (UTC); both empty: no schedule"],
];
const enc = encodeURIComponent;

/** 7776000000 → "90d" (the largest whole unit); 0 → "0s". */
function duration(ms) {
  if (ms === 0) return "0s";
  for (const [unit, n] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]]) if (ms % n === 0 && ms >= n) return `${ms / n}${unit}`;
  return `${ms}ms`;
}

/** `…_ms` names without the suffix, underscores as spaces. */
const label = (k) => (k.endsWith("_ms") ? k.slice(0, -3) : k).replaceAll("_", " ");

/** A setting's value as text: durations for `…_ms` numbers, a nested group as "name value, …",
 *  delivery targets by type and destination (never a secret), never JSON. */
function settingText(k, v) {
  if (k.endsWith("_ms") && typeof v === "number") return duration(v);
  if (k === "targets" && Array.isArray(v)) return v.length ? v.map(targetText).join("; ") : "none";
  if (Array.isArray(v)) return v.length ? v.map(String).join(", ") : "none";
  if (v && typeof v === "object") {
    return Object.entries(v).filter(([, x]) => x !== null).map(([k2, x]) => `${label(k2)} ${settingText(k2, x)}`).join(", ");
  }
  return String(v);
}

/** Settings as [name, text], for reading: `…_ms` numbers as durations under the name without
 *  `_ms`; "schedule none" when neither an interval nor a cron schedule is set. */
function settingPairs(settings) {
  const pairs = Object.entries(settings || {}).filter(([, v]) => v !== null).map(([k, v]) => [label(k), settingText(k, v)]);
  if (settings && settings.every_ms == null && settings.cron == null) pairs.unshift(["schedule", "none"]);
  return pairs;
}

/** The current values of the editable settings, as the edit dialog's fields take them. */
function editableValues(settings) {
  return Object.fromEntries(Object.entries(settings || {}).filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => [k.endsWith("_ms") ? k.slice(0, -3) : k, settingText(k, v)]));
}

function settingsList(a) {
  const pairs = settingPairs(a.settings);
  return pairs.length ? facts(pairs) : el("p", { class: "muted" }, "Defaults.");
}

/**
 * The `PATCH …/settings` body for what the user changed in the edit dialog (`current`: the
 * values it opened with; `typed`: what its fields hold, trimmed). Only changed fields are sent.
 * A schedule field is never sent empty (no duration or cron is ""): emptying both sends
 * `no_schedule`; emptying one sends it as `null`, which removes that one only.
 */
function settingsPatch(current, typed) {
  const was = (k) => String(current[k] ?? "");
  const patch = {};
  for (const k of ["title", "folder"]) if (typed[k] !== was(k)) patch[k] = typed[k];
  const schedule = ["every", "cron"];
  const emptied = schedule.filter((k) => !typed[k] && was(k));
  if (emptied.length && schedule.every((k) => !typed[k])) patch.no_schedule = true;
  else for (const k of emptied) patch[k] = null;
  for (const k of schedule) if (typed[k] && typed[k] !== was(k)) patch[k] = typed[k];
  return patch;
}

async function editSettings(a, reload) {
  const current = { ...editableValues(a.settings), title: a.title || "", folder: a.folder || "" };
  const inputs = EDITABLE.map(([k, label, type, hint]) => {
    const input = el("input", { type, value: current[k] ?? "", name: k, autocomplete: "off" });
    return [k, input, field(`set-${k}`, label, input, hint)];
  });
  let changed = true;
  const save = async () => {
    const patch = settingsPatch(current, Object.fromEntries(inputs.map(([k, input]) => [k, input.value.trim()])));
    changed = Object.keys(patch).length > 0;
    if (changed) await api("PATCH", `/api/v1/accounts/${enc(a.id)}/settings`, { body: patch });
  };
  if (!(await dialog(`Settings of ${ref(a)}`, inputs.map((i) => i[2]), { ok: "Save", submit: save }))) return;
  if (!changed) return toast("Nothing changed.");
  toast("Settings saved (recorded in the audit log).");
  await reload();
}

function heartbeatSection(a) {
  const h = a.heartbeat;
  if (!h) return el("p", { class: "muted" }, "No heartbeat yet.");
  const findings = (h.detail && h.detail.findings) || [];
  return el("div", {}, facts([["Status", el("span", { class: tone(h.status) }, h.status)], ["At", when(h.at)]]),
    findings.length ? el("ul", { class: "findings" }, findings.map((f) => el("li", {}, f))) : el("p", { class: "muted" }, "No findings."));
}

function historyTable(list) {
  if (!list.length) return el("p", { class: "muted" }, "No rotation yet.");
  const rows = list.map((r) => el("tr", {},
    el("td", { "data-label": "Started" }, el("a", { href: `#/rotations/${enc(r.id)}` }, when(r.started_at))),
    td(r.phase, phaseTone(r)), td(r.old_key_id, "mono"), td(r.new_key_id, "mono"),
    td(when(r.finished_at)), td(r.error, r.error ? "bad" : "")));
  const labels = ["Started", "Phase", "Old key", "New key", "Finished", "Error"];
  for (const tr of rows) [...tr.children].forEach((c, i) => c.setAttribute("data-label", labels[i]));
  return el("table", { class: "rows" }, el("thead", {}, el("tr", {}, labels.map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows));
}

function versionsTable(versions) {
  if (!versions.length) return el("p", { class: "muted" }, "No secret stored yet.");
  const labels = ["Version", "State", "Key id", "Origin", "Stored"];
  const rows = versions.map((v) => el("tr", { "data-version": v.version },
    td(v.version), td(v.state, v.state === "current" ? "ok" : v.state === "pending" ? "warn" : "muted"),
    td(v.key_id, "mono"), td(v.origin), td(when(v.created_at))));
  for (const tr of rows) [...tr.children].forEach((c, i) => c.setAttribute("data-label", labels[i]));
  return el("table", { class: "rows", id: "versions" }, el("caption", { class: "sr-only" }, "Stored versions of the secret, newest first"),
    el("thead", {}, el("tr", {}, labels.map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows));
}

async function rotate(a) {
  const yes = await confirmDialog(`Rotate ${ref(a)}?`, "A new credential replaces the current one now. You will follow the rotation on its own page.", "Rotate now", true);
  if (yes) await watchRotation(a);
}

async function heartbeat(a, reload) {
  const h = await api("POST", `/api/v1/accounts/${enc(a.id)}/heartbeat`);
  const findings = (h.detail && h.detail.findings) || [];
  toast(`Heartbeat ${h.status}${findings.length ? `: ${findings.join("; ")}` : ""}`, h.status !== "ok");
  await reload();
}

async function checkout(a, reload) {
  const ttl = el("input", { type: "text", value: "30m", autocomplete: "off" });
  let c;
  const take = async () => {
    c = await api("POST", `/api/v1/accounts/${enc(a.id)}/checkout`, { body: ttl.value.trim() ? { ttl: ttl.value.trim() } : {} });
  };
  if (!(await dialog(`Check out ${ref(a)}`, [field("checkout-ttl", "For how long", ttl, "e.g. 30m; at most 24h")], { ok: "Check out", submit: take }))) return;
  await reload();
  await dialog(`Checked out: ${ref(a)}`, [
    el("p", {}, `IAM user ${c.user}; yours until ${when(c.checkout && c.checkout.expires_at)}. It is rotated when you check in or the check-out ends.`),
    secretView(c.password, "Password")], { ok: "", cancel: "Close" });
}

async function checkin(a, reload) {
  const c = await api("POST", `/api/v1/accounts/${enc(a.id)}/checkin`);
  toast(`Checked in; the password is rotated ${c.rotation}.`);
  await reload();
}

async function reveal(a) {
  if (!(await confirmDialog(`Reveal the secret of ${ref(a)}?`, "Revealing is recorded in the audit log.", "Reveal", true))) return;
  const r = await api("POST", `/api/v1/accounts/${enc(a.id)}/reveal`);
  await dialog(`Secret of ${ref(a)}`, [r.access_key_id ? el("p", {}, `Access key ${r.access_key_id}`) : null,
    secretView(r.secret, r.access_key_id ? "Secret access key" : "Password")].filter(Boolean), { ok: "", cancel: "Close" });
}

async function rollback(a, reload) {
  if (!(await confirmDialog(`Roll ${ref(a)} back?`, "The previous access key becomes current again.", "Roll back", true))) return;
  await api("POST", `/api/v1/accounts/${enc(a.id)}/rollback`);
  toast("Rolled back to the previous key.");
  await reload();
}

function actions(a, reload) {
  const bar = el("div", { class: "bar", role: "group", "aria-label": "Actions" });
  const password = a.kind === "password";
  if (can("operate")) bar.append(action("Rotate now", () => rotate(a), { id: "act-rotate" }), action("Run heartbeat", () => heartbeat(a, reload), { id: "act-heartbeat" }));
  if (can("checkout") && password && !a.checked_out_by) bar.append(action("Check out", () => checkout(a, reload), { id: "act-checkout" }));
  if (can("checkout") && password && a.checked_out_by) bar.append(action("Check in", () => checkin(a, reload), { id: "act-checkin" }));
  if (can("reveal")) bar.append(action("Reveal secret", () => reveal(a), { id: "act-reveal", class: "danger" }));
  if (can("administer") && !password) bar.append(action("Roll back", () => rollback(a, reload), { id: "act-rollback" }));
  if (can("administer")) bar.append(action("Edit settings", () => editSettings(a, reload), { id: "act-settings" }));
  return bar.children.length ? bar : el("p", { class: "muted" }, `Your role (${can("read") ? "read-only here" : "none"}) has no actions on this account.`);
}

export async function render(root, route) {
  const reload = () => render(root, route);
  const id = enc(route.id);
  const [a, history, versions] = await Promise.all([
    api("GET", `/api/v1/accounts/${id}`),
    api("GET", "/api/v1/rotations", { query: { account: route.id, limit: 20 } }),
    api("GET", `/api/v1/accounts/${id}/versions`),
  ]);
  const items = Array.isArray(history) ? history : history.items;
  root.replaceChildren(
    el("p", {}, el("a", { href: "#/accounts" }, "← Accounts")),
    el("h1", { id: "account-title" }, ref(a)),
    ...(a.title ? [el("p", { class: "muted" }, a.title)] : []),
    actions(a, reload),
    el("section", { "aria-labelledby": "h-what" }, el("h2", { id: "h-what" }, "Account"), facts([
      ["Id", el("code", {}, a.id)], ["ARN", el("code", {}, a.arn)], ["IAM user id", a.user_id], ["Kind", a.kind],
      ["Folder", a.folder], ["Status", el("span", { class: tone(a.status) }, a.status)],
      ["Current version", a.current_version], ["Current key id", a.current_key_id ? el("code", { id: "current-key" }, a.current_key_id) : "—"],
      ["Last rotated", when(a.last_rotated_at)], ["Next due", el("span", { class: a.overdue ? "bad" : "" }, `${when(a.next_due_at)}${a.overdue ? " (overdue)" : ""}`)],
      ["Checked out by", el("span", { id: "checked-out-by" }, holder(a) || "nobody")], ["Created", when(a.created_at)],
    ])),
    el("section", { "aria-labelledby": "h-settings" }, el("h2", { id: "h-settings" }, "Settings"), settingsList(a)),
    el("section", { "aria-labelledby": "h-versions" }, el("h2", { id: "h-versions" }, "Secret versions"), versionsTable(versions)),
    el("section", { "aria-labelledby": "h-hb" }, el("h2", { id: "h-hb" }, "Heartbeat"), heartbeatSection(a)),
    el("section", { "aria-labelledby": "h-rot" }, el("h2", { id: "h-rot" }, "Rotation history"), historyTable(items)),
  );
  root.focus({ preventScroll: true });
}
