//! `#/report`: the compliance report (`GET /api/v1/reports/compliance`): counts per finding and
//! the credentials with findings first. At most a few hundred rows are drawn; the rest are
//! counted (the CLI's `rekey report` gives the whole list).

import { api } from "/ui/api.js";
import { el, td, when, field, action } from "/ui/ui.js";

const SHOWN = 300;
const LABELS = ["Provider", "User", "Kind", "Key", "Owner", "Age (days)", "Last used", "Findings"];

function draw(out, r) {
  const cards = Object.entries(r.findings || {}).map(([finding, n]) => el("div", { class: "card" }, el("b", {}, n), el("span", {}, finding)));
  const rows = [...r.rows].sort((a, b) => b.findings.length - a.findings.length).slice(0, SHOWN);
  const tbody = el("tbody", {}, rows.map((x) => el("tr", {}, td(x.provider), td(x.user), td(x.kind), td(x.key_id, "mono"), td(x.owner),
    td(x.age_days), td(when(x.last_used)), td(x.findings.join(", ") || "none", x.findings.length ? "bad" : "ok"))));
  for (const tr of tbody.children) [...tr.children].forEach((c, i) => c.setAttribute("data-label", LABELS[i]));
  out.replaceChildren(
    el("div", { class: "cards" }, el("div", { class: "card" }, el("b", {}, r.rows.length), el("span", {}, "credentials")), cards),
    el("p", { class: "muted" }, `Generated ${when(r.generated_at)}; max age ${r.max_age_days} days, unused after ${r.unused_days} days.`,
      r.rows.length > SHOWN ? ` Showing the first ${SHOWN} rows, findings first.` : ""),
    el("table", { class: "rows" }, el("thead", {}, el("tr", {}, LABELS.map((h) => el("th", { scope: "col" }, h)))), tbody));
}

export async function render(root) {
  const days = el("input", { type: "number", min: 1, max: 3650, value: 90 });
  const out = el("div", { id: "report-out" });
  const run = action("Run report", async () => {
    out.replaceChildren(el("p", { class: "muted", role: "status" }, "Running the report…"));
    draw(out, await api("GET", "/api/v1/reports/compliance", { query: { max_age_days: Number(days.value) || 90 } }));
  }, { class: "primary" });
  root.replaceChildren(el("h1", {}, "Compliance report"),
    el("div", { class: "bar" }, field("max-age", "Max age (days)", days), run), out);
  root.focus({ preventScroll: true });
}
