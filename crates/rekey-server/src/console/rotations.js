//! `#/rotations` (the journal, newest first, paged by the server) and `#/rotations/ID` (one
//! rotation, polled about once a second until it has finished, then its real outcome). A rotation
//! started from an account page is followed here: `watchRotation` sends the rotate request,
//! opens the new rotation's page as soon as the journal shows it, and hands the request's report
//! (outcome, what is waiting, foreign keys left alone) to that page when it answers.

import { api, ref } from "/ui/api.js";
import { el, td, when, facts, fail, toast, tone } from "/ui/ui.js";

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

async function one(root, id) {
  let stopped = false, timer = null;
  const body = el("div", { id: "rotation-detail" });
  root.replaceChildren(el("p", {}, el("a", { href: "#/rotations" }, "← Rotations")), el("h1", {}, `Rotation ${id}`), body);
  root.focus({ preventScroll: true });
  const refresh = async () => {
    timer = null;
    try {
      const r = await api("GET", `/api/v1/rotations/${enc(id)}`);
      if (stopped) return;
      body.replaceChildren(...detail(r));
      const finished = Boolean(r.finished_at) || reports.has(id);
      root.dataset.state = finished ? "finished" : "running";
      if (!finished) timer = setTimeout(refresh, POLL_MS);
    } catch (e) {
      if (!stopped) { fail(e); timer = setTimeout(refresh, POLL_MS * 3); }
    }
  };
  const onReport = (e) => { if (e.detail === id && !stopped) { clearTimeout(timer); refresh(); } };
  window.addEventListener("rekey-rotation-report", onReport);
  await refresh();
  return () => { stopped = true; clearTimeout(timer); window.removeEventListener("rekey-rotation-report", onReport); };
}

async function list(root, params) {
  const cursors = [params.get("cursor") || null];
  const tbody = el("tbody");
  const count = el("p", { class: "muted", role: "status" });
  const prev = el("button", { type: "button" }, "Previous page");
  const next = el("button", { type: "button" }, "Next page");
  const labels = ["Started", "Account", "Kind", "Phase", "New key", "Finished", "Error"];
  const load = async () => {
    const page = await api("GET", "/api/v1/rotations", { query: { limit: 50, cursor: cursors[cursors.length - 1] } });
    const items = itemsOf(page);
    tbody.replaceChildren(...items.map((r) => el("tr", {},
      el("td", {}, el("a", { href: `#/rotations/${enc(r.id)}` }, when(r.started_at))),
      el("td", {}, el("a", { href: `#/accounts/${enc(r.account_id)}` }, r.account_id)),
      td(r.kind), td(r.phase, phaseTone(r)), td(r.new_key_id, "mono"), td(when(r.finished_at)), td(r.error, r.error ? "bad" : ""))));
    for (const tr of tbody.children) [...tr.children].forEach((c, i) => c.setAttribute("data-label", labels[i]));
    count.textContent = page.total !== undefined ? `${page.total.toLocaleString("en")} rotations` : `${items.length} shown`;
    prev.disabled = cursors.length < 2;
    next.disabled = !page.next_cursor;
    next.dataset.cursor = page.next_cursor || "";
  };
  prev.onclick = () => { cursors.pop(); load().catch(fail); };
  next.onclick = () => { cursors.push(next.dataset.cursor); load().catch(fail); };
  root.replaceChildren(el("h1", {}, "Rotations"), el("div", { class: "bar" }, count, prev, next),
    el("table", { class: "rows" }, el("thead", {}, el("tr", {}, labels.map((h) => el("th", { scope: "col" }, h)))), tbody));
  root.focus({ preventScroll: true });
  await load();
}

export function render(root, route) {
  return route.id ? one(root, route.id) : list(root, route.params);
}
