//! `#/accounts?…`: the account list, paged, filtered and sorted by the server
//! (`GET /api/v1/accounts`). The filters live in the URL (replaced, not pushed, as they change),
//! only one page of rows is ever in the DOM, typing in the search box waits for a short pause
//! and cancels the request it replaces. Bulk rotate and heartbeat act on every account that
//! matches the filters, after a confirmation that states how many (counted exactly for it: the
//! list's own total stops at 10,000, shown `10,000+`), and end with each account's outcome (a
//! rotation's real outcome, linked to its page).

import { api, qs, can, ref } from "/ui/api.js";
import { el, td, when, field, confirmDialog, tone, action, toast, plural, totalText, totalTitle } from "/ui/ui.js";

const PAGE = 100;
const enc = encodeURIComponent;
const DEBOUNCE_MS = 40;
const SELECTS = [
  ["kind", "Kind", [["", "Any"], ["access_key", "Access key"], ["password", "Password"]]],
  ["heartbeat", "Heartbeat", [["", "Any"], ["ok", "OK"], ["failing", "Failing"], ["never", "Never run"]]],
  ["overdue", "Overdue", [["", "Any"], ["true", "Overdue"], ["false", "Not overdue"]]],
  ["rotation", "Last rotation", [["", "Any"], ["failed", "Failed or aborted"]]],
  ["owner", "Other keys", [["", "Any"], ["foreign", "Foreign keys on the user"]]],
  ["checked_out", "Checked out", [["", "Any"], ["true", "Checked out"], ["false", "Not checked out"]]],
  ["sort", "Sort by", [["name", "Name"], ["due", "Next due"], ["age", "Key age"], ["last_rotated", "Last rotated"]]],
  ["order", "Order", [["asc", "Ascending"], ["desc", "Descending"]]],
];
const TEXTS = [["q", "Search", "user, ref or title"], ["key_id", "Key id", "AKIA…"], ["folder", "Folder", "ops/team"]];
const FILTER_KEYS = [...TEXTS.map((t) => t[0]), ...SELECTS.map((s) => s[0]), "provider", "status"];

/** The filters of `params` (URLSearchParams) as an object without empty values. */
function filtersOf(params) {
  const f = {};
  for (const k of FILTER_KEYS) if (params.get(k)) f[k] = params.get(k);
  return f;
}

function row(a) {
  const name = el("td", { "data-label": "Account" }, el("a", { href: `#/accounts/${enc(a.id)}` }, ref(a)),
    a.title ? el("div", { class: "muted" }, a.title) : null);
  const hb = a.heartbeat ? a.heartbeat.status : "never";
  const due = el("td", { "data-label": "Next due", class: a.overdue ? "bad" : "" }, a.overdue ? `overdue since ${when(a.next_due_at)}` : when(a.next_due_at));
  const last = a.last_rotation;
  const lastCell = last
    ? el("td", { "data-label": "Last rotation", class: tone(last.outcome || last.phase) },
      el("a", { href: `#/rotations/${enc(last.id)}` }, last.outcome || last.phase))
    : td("—", "muted");
  const cells = [name, td(a.kind), td(a.folder), td(a.status, tone(a.status)), td(hb, tone(hb)), due,
    td(when(a.last_rotated_at)), lastCell, holderCell(a)];
  const labels = ["Account", "Kind", "Folder", "Status", "Heartbeat", "Next due", "Last rotated", "Last rotation", "Checked out by"];
  cells.forEach((c, i) => c.setAttribute("data-label", labels[i]));
  return el("tr", {}, cells);
}

/** "Checked out by": the holding token's name, its actor (`token:ID`) on hover. */
export function holder(a) {
  if (!a.checked_out_by) return null;
  return el("span", { title: a.checked_out_by }, a.checked_out_by_name || a.checked_out_by);
}

const holderCell = (a) => el("td", {}, holder(a) || "—");

/** How many accounts match `filters`, counted exactly (whatever the cap of the list's total). */
async function exactCount(filters) {
  const page = await api("GET", "/api/v1/accounts", { query: { ...filters, limit: 1, count: "exact" } });
  return page.total;
}

/** Every account id matching `filters`, page by page. */
async function allIds(filters) {
  const ids = [];
  let cursor = null;
  do {
    const page = await api("GET", "/api/v1/accounts", { query: { ...filters, limit: 500, cursor } });
    for (const a of page.items) ids.push(a.id);
    cursor = page.next_cursor;
  } while (cursor);
  return ids;
}

/**
 * Runs `verb` on every id, four at a time, reporting progress in `out`. Resolves to one result
 * per account: the rotation's report (its real outcome: done, retiring, aborted, refused, …) or
 * the heartbeat's status, or the error that answered instead.
 */
async function bulk(ids, verb, out) {
  let next = 0, settled = 0;
  const results = [];
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++];
      try {
        // Spelt out per verb: the server test matches every path the console calls against the API document.
        const r = await (verb === "rotate" ? api("POST", `/api/v1/accounts/${enc(id)}/rotate`) : api("POST", `/api/v1/accounts/${enc(id)}/heartbeat`));
        results.push({ id, outcome: verb === "rotate" ? r.outcome : r.status, rotation: r.rotation, ref: r.ref, error: r.error });
      } catch (e) {
        results.push({ id, outcome: "error", error: e.message });
      }
      settled += 1;
      out.textContent = `${verb}: ${settled} of ${ids.length}`;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return results;
}

/** "2 done, 1 aborted" from `results`, the commonest outcome first. */
export function tally(results) {
  const counts = new Map();
  for (const r of results) counts.set(r.outcome, (counts.get(r.outcome) || 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${n} ${o}`).join(", ");
}

/** The outcome of each account of a bulk action, with a link to its rotation when it has one. */
function resultList(verb, results) {
  const items = results.map((r) => el("li", {},
    el("a", { href: `#/accounts/${enc(r.id)}` }, r.ref || r.id), ": ",
    r.rotation ? el("a", { href: `#/rotations/${enc(r.rotation)}`, class: tone(r.outcome) }, r.outcome) : el("span", { class: tone(r.outcome) }, r.outcome),
    r.error ? el("span", { class: "muted" }, ` — ${r.error}`) : null));
  return el("section", { id: "bulk-results", "aria-labelledby": "bulk-h" },
    el("h2", { id: "bulk-h" }, `${verb === "rotate" ? "Rotation" : "Heartbeat"} outcomes: ${tally(results)}`),
    el("ul", { class: "findings" }, items));
}

export async function render(root, route) {
  let filters = filtersOf(route.params);
  let cursors = [null];
  let total = 0;
  let inflight = null;
  let timer = null;
  const body = el("tbody", { id: "account-rows" });
  const count = el("p", { id: "account-count", class: "muted", role: "status" });
  const prev = el("button", { type: "button", id: "prev-page" }, "Previous page");
  const next = el("button", { type: "button", id: "next-page" }, "Next page");
  const progress = el("p", { role: "status", class: "muted" });

  async function load() {
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const signal = inflight.signal;
    root.dataset.state = "loading";
    const cursor = cursors[cursors.length - 1];
    try {
      const page = await api("GET", "/api/v1/accounts", { query: { ...filters, limit: PAGE, cursor }, signal });
      total = page.total;
      body.replaceChildren(...page.items.map(row));
      if (!page.items.length) body.append(el("tr", {}, el("td", { colSpan: 9, class: "muted" }, "No account matches these filters.")));
      const first = (cursors.length - 1) * PAGE;
      count.textContent = page.items.length
        ? `${(first + 1).toLocaleString("en")}–${(first + page.items.length).toLocaleString("en")} of ${totalText(page)}`
        : `0 of ${totalText(page)}`;
      count.title = totalTitle(page);
      prev.disabled = cursors.length < 2;
      next.disabled = !page.next_cursor;
      next.dataset.cursor = page.next_cursor || "";
      for (const b of root.querySelectorAll("[data-bulk]")) b.disabled = total === 0;
      root.dataset.state = "ready";
    } catch (e) {
      if (e.name !== "AbortError" && !e.signedOut) failed(e);
    }
  }

  /** The error in place of the rows and their count (the last page shown no longer matches the filters). */
  function failed(e) {
    body.replaceChildren(el("tr", {}, el("td", { colSpan: 9, class: "bad" },
      el("span", { role: "alert", id: "account-error" }, `Could not list accounts: ${e.detail || e.message}`))));
    count.textContent = "No results";
    count.title = "";
    prev.disabled = next.disabled = true;
    for (const b of root.querySelectorAll("[data-bulk]")) b.disabled = true;
    root.dataset.state = "error";
  }

  function changed(key, value) {
    if (value) filters[key] = value; else delete filters[key];
    cursors = [null];
    history.replaceState(null, "", `#/accounts${qs(filters)}`);
    clearTimeout(timer);
    timer = setTimeout(load, key === "q" || key === "key_id" || key === "folder" ? DEBOUNCE_MS : 0);
  }

  const controls = [
    ...TEXTS.map(([k, label, hint]) => {
      const input = el("input", { type: "search", value: filters[k] || "", placeholder: hint, spellcheck: false, autocomplete: "off" });
      input.addEventListener("input", () => changed(k, input.value.trim()));
      return field(`f-${k}`, label, input);
    }),
    ...SELECTS.map(([k, label, options]) => {
      const select = el("select", {}, options.map(([v, text]) => el("option", { value: v, selected: (filters[k] || "") === v }, text)));
      select.addEventListener("change", () => changed(k, select.value));
      return field(`f-${k}`, label, select);
    }),
  ];
  prev.onclick = () => { cursors.pop(); load(); };
  next.onclick = () => { cursors.push(next.dataset.cursor); load(); };

  const bulkBar = el("div", { class: "bar" });
  const resultsSlot = el("div");
  if (can("operate")) {
    for (const [verb, label] of [["heartbeat", "Heartbeat"], ["rotate", "Rotate"]]) {
      bulkBar.append(action(`${label} all matching…`, async () => {
        const matching = await exactCount(filters);
        if (!matching) { toast("No account matches these filters."); return; }
        const n = plural(matching, "account");
        const yes = await confirmDialog(`${label} ${n}?`,
          `This runs a ${verb} on each of the ${n} that match the current filters, four at a time.`, `${label} ${n}`, verb === "rotate");
        if (!yes) return;
        const ids = await allIds(filters);
        const results = await bulk(ids, verb, progress);
        const good = verb === "rotate" ? ["done", "retiring"] : ["ok"];
        toast(`${label}: ${tally(results)}.`, results.some((r) => !good.includes(r.outcome)));
        resultsSlot.replaceChildren(resultList(verb, results));
        load();
      }, { "data-bulk": verb }));
    }
    bulkBar.append(progress);
  }

  const head = ["Account", "Kind", "Folder", "Status", "Heartbeat", "Next due", "Last rotated", "Last rotation", "Checked out by"];
  root.replaceChildren(
    el("h1", {}, "Accounts"),
    el("form", { class: "filters", role: "search", "aria-label": "Filter accounts", onsubmit: (e) => e.preventDefault() }, controls),
    bulkBar,
    resultsSlot,
    el("div", { class: "bar" }, count, prev, next),
    el("table", { class: "rows", id: "accounts-table" }, el("caption", { class: "sr-only" }, "Accounts matching the filters"),
      el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))), body),
  );
  root.focus({ preventScroll: true });
  await load();
  return () => { clearTimeout(timer); if (inflight) inflight.abort(); };
}
