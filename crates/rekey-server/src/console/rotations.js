//! `#/rotations?outcome=…&phase=…` (the journal, newest first, paged and filtered by the server;
//! the filters live in the URL) and `#/rotations/ID` (one rotation, followed live through its
//! server-sent events, or polled about once a second where the stream fails, until it has
//! finished; then its real outcome). A rotation
//! started from an account page is followed here: `watchRotation` sends the rotate request,
//! opens the new rotation's page as soon as the journal shows it, and hands the request's report
//! (outcome, what is waiting, foreign keys left alone) to that page when it answers.

import { api, events, qs, ref } from "/ui/api.js";
import { el, td, when, facts, fail, field, toast, tone, countText, totalTitle, refused } from "/ui/ui.js";

const enc = encodeURIComponent;
const POLL_MS = 1000;
const reports = new Map();
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const itemsOf = (list) => (Array.isArray(list) ? list : list.items);

/** ok / bad / warn for a rotation: finished cleanly, finished with an error, or still running. */
export function phaseTone(r) {
  if (!r.finished_at) return "warn";
  return r.error || r.phase === "aborted" ? "bad" : "ok";
}

/** What came of a rotation: the request's report when this tab started it, else its journal. */
function outcome(r) {
  const report = reports.get(r.id);
  if (report) return report.outcome;
  if (!r.finished_at) return "running";
  return r.outcome || (r.error ? `${r.phase} (failed)` : r.phase);
}

/** Rotates account `a` and follows the rotation on its page; resolves when the request answers. */
export async function watchRotation(a) {
  const recent = async () => itemsOf(await api("GET", "/api/v1/rotations", { query: { account: a.id, limit: 5 } }));
  const before = new Set((await recent()).map((r) => r.id));
  let answered = false, opened = null;
  const request = api("POST", `/api/v1/accounts/${enc(a.id)}/rotate`).finally(() => { answered = true; });
  while (!answered && !opened) {
    const fresh = (await recent()).find((r) => !before.has(r.id));
    if (fresh) { opened = fresh.id; location.hash = `#/rotations/${enc(fresh.id)}`; } else await pause(300);
  }
  let report;
  try { report = await request; } catch (e) { fail(e); return; }
  report = Array.isArray(report) ? report[0] : report;
  if (report.rotation) {
    reports.set(report.rotation, report);
    window.dispatchEvent(new CustomEvent("rekey-rotation-report", { detail: report.rotation }));
    if (!opened) location.hash = `#/rotations/${enc(report.rotation)}`;
  } else {
    toast(`${ref(a)}: ${report.outcome}${report.error ? ` — ${report.error}` : ""}`, report.outcome !== "done");
  }
}

function detail(r) {
  const report = reports.get(r.id);
  const phases = r.phases || (r.data && r.data.phases) || [];
  const state = outcome(r);
  const out = [
    el("p", { id: "rotation-outcome", class: `outcome ${report ? tone(report.outcome) : phaseTone(r)}`, role: "status" },
      r.finished_at || report ? `Outcome: ${state}` : `In progress: ${r.phase}…`),
    facts([
      ["Account", el("a", { href: `#/accounts/${enc(r.account_id)}` }, r.account_id)], ["Kind", r.kind], ["Phase", r.phase],
      ["Old key", r.old_key_id], ["New key", r.new_key_id], ["Started", when(r.started_at)],
      ["Last change", when(r.updated_at)], ["Finished", when(r.finished_at)],
      ["Error", r.error ? el("span", { class: "bad" }, r.error) : "none"],
    ]),
    el("h2", {}, "Phases"),
    phases.length ? el("ol", { class: "phases" }, phases.map((p) => el("li", {}, typeof p === "string" ? p : `${p.phase || p.name} ${when(p.at)}`))) : el("p", { class: "muted" }, "None recorded yet."),
  ];
  if (report && report.waiting) out.splice(1, 0, el("p", { class: "warn" }, `Waiting: ${report.waiting}`));
  if (report && report.foreign_keys && report.foreign_keys.length) {
    out.push(el("h2", {}, "Keys left alone"), el("ul", {}, report.foreign_keys.map((k) => el("li", {}, k))));
  }
  return out;
}

/**
 * One rotation, live: its server-sent events (`…/events`) while the server streams them, then
 * (stream refused, cut or over before the rotation finished) polling about once a second.
 * `data-live` on the page says which is in use. An error is shown in the page: a refusal (4xx:
 * no such rotation, not in the token's folders) ends the polling, a failure of the server or
 * the network is retried every few seconds.
 */
async function one(root, id) {
  let stopped = false, timer = null, finished = false;
  const stream = new AbortController();
  const body = el("div", { id: "rotation-detail" });
  const problem = el("p", { id: "rotation-error", class: "bad", role: "alert", hidden: true });
  root.replaceChildren(el("p", {}, el("a", { href: "#/rotations" }, "← Rotations")), el("h1", {}, `Rotation ${id}`), problem, body);
  root.focus({ preventScroll: true });
  const say = (text) => { problem.textContent = text; problem.hidden = !text; };
  const draw = (r) => {
    say("");
    body.replaceChildren(...detail(r));
    finished = Boolean(r.finished_at) || reports.has(id);
    root.dataset.state = finished ? "finished" : "running";
  };
  const refresh = async () => {
    timer = null;
    try {
      const r = await api("GET", `/api/v1/rotations/${enc(id)}`);
      if (stopped) return;
      draw(r);
      if (!finished) timer = setTimeout(refresh, POLL_MS);
    } catch (e) {
      if (stopped || e.signedOut) return;
      if (refused(e)) {
        body.replaceChildren();
        say(`This rotation cannot be shown: ${e.detail || e.message}`);
        root.dataset.state = "error";
      } else {
        say(`Could not load this rotation; trying again in a few seconds (${e.message}).`);
        timer = setTimeout(refresh, POLL_MS * 3);
      }
    }
  };
  const live = async () => {
    try {
      for await (const r of events(`/api/v1/rotations/${enc(id)}/events`, stream.signal)) {
        if (stopped) return;
        root.dataset.live = "events";
        draw(r);
        if (finished) return;
      }
    } catch (e) {
      if (stopped || e.name === "AbortError") return;
    }
    if (!stopped && !finished) { root.dataset.live = "polling"; await refresh(); }
  };
  const onReport = (e) => {
    if (e.detail !== id || stopped) return;
    stream.abort();
    clearTimeout(timer);
    refresh();
  };
  window.addEventListener("rekey-rotation-report", onReport);
  live(); // draws as events arrive; the page's stop function is needed at once
  return () => { stopped = true; stream.abort(); clearTimeout(timer); window.removeEventListener("rekey-rotation-report", onReport); };
}

const OUTCOMES = [["", "Any"], ["running", "Running"], ["failed", "Stopped with an error"], ["aborted", "Aborted"], ["done", "Done"]];
const PHASES = ["preflight", "create_requested", "created", "tagged", "verifying", "delivering", "committed", "retiring",
  "deactivated", "done", "aborting", "aborted", "generated", "update_requested"];

/** A journal row's outcome, as the server filters by it: aborted, done, failed (stopped with an error, unfinished) or running. */
export function outcomeOf(r) {
  if (r.phase === "aborted" || r.phase === "done") return r.phase;
  return r.error ? "failed" : "running";
}

async function list(root, params) {
  const filters = {};
  for (const k of ["outcome", "phase", "account"]) if (params.get(k)) filters[k] = params.get(k);
  let cursors = [params.get("cursor") || null];
  const tbody = el("tbody", { id: "rotation-rows" });
  const count = el("p", { class: "muted", role: "status", id: "rotation-count" });
  const prev = el("button", { type: "button" }, "Previous page");
  const next = el("button", { type: "button" }, "Next page");
  const labels = ["Started", "Account", "Kind", "Phase", "Outcome", "New key", "Finished", "Error"];
  const load = async () => {
    root.dataset.state = "loading";
    const page = await api("GET", "/api/v1/rotations", { query: { ...filters, limit: 50, cursor: cursors[cursors.length - 1] } });
    const items = itemsOf(page);
    tbody.replaceChildren(...items.map((r) => el("tr", {},
      el("td", {}, el("a", { href: `#/rotations/${enc(r.id)}` }, when(r.started_at))),
      el("td", {}, el("a", { href: `#/accounts/${enc(r.account_id)}` }, r.account_id)),
      td(r.kind), td(r.phase, phaseTone(r)), td(outcomeOf(r), tone(outcomeOf(r))), td(r.new_key_id, "mono"),
      td(when(r.finished_at)), td(r.error, r.error ? "bad" : ""))));
    if (!items.length) tbody.append(el("tr", {}, el("td", { colSpan: labels.length, class: "muted" }, "No rotation matches these filters.")));
    for (const tr of tbody.children) [...tr.children].forEach((c, i) => c.setAttribute("data-label", labels[i]));
    count.textContent = countText(page, "rotation");
    count.title = totalTitle(page);
    prev.disabled = cursors.length < 2;
    next.disabled = !page.next_cursor;
    next.dataset.cursor = page.next_cursor || "";
    root.dataset.state = "ready";
  };
  const reload = () => load().catch((e) => {
    if (e.signedOut) return;
    tbody.replaceChildren(el("tr", {}, el("td", { colSpan: labels.length, class: "bad" }, el("span", { role: "alert" }, `Could not list rotations: ${e.detail || e.message}`))));
    count.textContent = "No results";
    count.title = "";
    prev.disabled = next.disabled = true;
    root.dataset.state = "error";
  });
  const changed = (key, value) => {
    if (value) filters[key] = value; else delete filters[key];
    cursors = [null];
    history.replaceState(null, "", `#/rotations${qs(filters)}`);
    reload();
  };
  const select = (key, label, options) => {
    const s = el("select", {}, options.map(([v, text]) => el("option", { value: v, selected: (filters[key] || "") === v }, text)));
    s.addEventListener("change", () => changed(key, s.value));
    return field(`r-${key}`, label, s);
  };
  prev.onclick = () => { cursors.pop(); reload(); };
  next.onclick = () => { cursors.push(next.dataset.cursor); reload(); };
  const form = el("form", { class: "filters", role: "search", "aria-label": "Filter rotations", onsubmit: (e) => e.preventDefault() },
    select("outcome", "Outcome", OUTCOMES), select("phase", "Phase", [["", "Any"], ...PHASES.map((p) => [p, p.replace(/_/g, " ")])]),
    filters.account ? el("p", {}, `Account ${filters.account} only. `, el("a", { href: "#/rotations" }, "All accounts")) : null);
  root.replaceChildren(el("h1", {}, "Rotations"), form, el("div", { class: "bar" }, count, prev, next),
    el("table", { class: "rows" }, el("caption", { class: "sr-only" }, "Rotations matching the filters, newest first"),
      el("thead", {}, el("tr", {}, labels.map((h) => el("th", { scope: "col" }, h)))), tbody));
  root.focus({ preventScroll: true });
  await reload();
}

export function render(root, route) {
  return route.id ? one(root, route.id) : list(root, route.params);
}
