//! `#/audit`: the audit log, newest first, paged by the server (`GET /api/v1/audit`), filtered by
//! actor, action and target; and a check of the hash chain (`GET /api/v1/audit/verify`).

import { api, qs } from "/ui/api.js";
import { el, td, when, field, action, plural, countText, totalTitle } from "/ui/ui.js";

const LABELS = ["At", "Actor", "Action", "Target", "Outcome", "Detail"];

export async function render(root, route) {
  const filters = {};
  for (const k of ["actor", "action", "target"]) if (route.params.get(k)) filters[k] = route.params.get(k);
  let cursors = [null];
  const tbody = el("tbody", { id: "audit-rows" });
  const prev = el("button", { type: "button" }, "Newer");
  const next = el("button", { type: "button" }, "Older");
  const verdict = el("p", { role: "status", id: "verify-result" });
  const count = el("p", { class: "muted", role: "status", id: "audit-count" });
  const load = async () => {
    const page = await api("GET", "/api/v1/audit", { query: { ...filters, limit: 100, cursor: cursors[cursors.length - 1] } });
    const items = Array.isArray(page) ? page : page.items;
    tbody.replaceChildren(...items.map((e) => el("tr", {}, td(when(e.at)), td(e.actor), td(e.action), td(e.target, "mono"),
      td(e.outcome, e.outcome === "ok" ? "ok" : "bad"), td(e.detail ? JSON.stringify(e.detail) : "", "mono detail"))));
    for (const tr of tbody.children) [...tr.children].forEach((c, i) => c.setAttribute("data-label", LABELS[i]));
    if (!Array.isArray(page)) {
      count.textContent = countText(page, "event");
      count.title = totalTitle(page);
    }
    prev.disabled = cursors.length < 2;
    next.disabled = !page.next_cursor;
    next.dataset.cursor = page.next_cursor || "";
  };
  /** The error in place of the rows and their count (the page shown no longer matches the filters). */
  const reload = () => load().catch((e) => {
    if (e.signedOut) return;
    tbody.replaceChildren(el("tr", {}, el("td", { colSpan: LABELS.length, class: "bad" }, el("span", { role: "alert" }, `Could not read the audit log: ${e.detail || e.message}`))));
    count.textContent = "No results";
    count.title = "";
    prev.disabled = next.disabled = true;
  });
  prev.onclick = () => { cursors.pop(); reload(); };
  next.onclick = () => { cursors.push(next.dataset.cursor); reload(); };
  const inputs = ["actor", "action", "target"].map((k) => {
    const input = el("input", { type: "search", value: filters[k] || "", autocomplete: "off", spellcheck: false });
    input.addEventListener("change", () => {
      if (input.value.trim()) filters[k] = input.value.trim(); else delete filters[k];
      cursors = [null];
      history.replaceState(null, "", `#/audit${qs(filters)}`);
      reload();
    });
    return field(`a-${k}`, k[0].toUpperCase() + k.slice(1), input);
  });
  const verify = action("Verify the hash chain", async () => {
    verdict.textContent = "Verifying…";
    verdict.className = "muted";
    try {
      const r = await api("GET", "/api/v1/audit/verify");
      verdict.textContent = `Chain ${r.status}: ${plural(r.events, "event")}, head ${String(r.head).slice(0, 16)}…`;
      verdict.className = r.status === "ok" ? "ok" : "bad";
    } catch (e) {
      verdict.textContent = e.message;
      verdict.className = "bad";
    }
  });
  root.replaceChildren(el("h1", {}, "Audit log"),
    el("form", { class: "filters", role: "search", "aria-label": "Filter events", onsubmit: (e) => e.preventDefault() }, inputs),
    el("div", { class: "bar" }, count, prev, next, verify, verdict),
    el("table", { class: "rows" }, el("thead", {}, el("tr", {}, LABELS.map((h) => el("th", { scope: "col" }, h)))), tbody));
  root.focus({ preventScroll: true });
  await reload();
}
