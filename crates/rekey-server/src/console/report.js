//! `#/report`: the compliance report (`GET /api/v1/reports/compliance`): counts per finding and
//! the credentials with findings first. At most a few hundred rows are drawn; the rest are
//! counted (the CLI's `rekey report` gives the whole list). The maximum age is checked before
//! the report runs (a whole number of days, 1 to 3650, as the server takes it), and a problem
//! with it, or the server's refusal, is said beside the form, which stays usable.

import { api } from "/ui/api.js";
import { el, td, when, field, plural } from "/ui/ui.js";

const SHOWN = 300;
const LABELS = ["Provider", "User", "Kind", "Key", "Owner", "Age (days)", "Last used", "Findings"];

function draw(out, r) {
  const cards = Object.entries(r.findings || {}).map(([finding, n]) => el("div", { class: "card" }, el("b", {}, n), el("span", {}, finding)));
  const rows = [...r.rows].sort((a, b) => b.findings.length - a.findings.length).slice(0, SHOWN);
  const tbody = el("tbody", {}, rows.map((x) => el("tr", {}, td(x.provider), td(x.user), td(x.kind), td(x.key_id, "mono"), td(x.owner),
    td(x.age_days), td(when(x.last_used)), td(x.findings.join(", ") || "none", x.findings.length ? "bad" : "ok"))));
  for (const tr of tbody.children) [...tr.children].forEach((c, i) => c.setAttribute("data-label", LABELS[i]));
  out.replaceChildren(
    el("div", { class: "cards" }, el("div", { class: "card" }, el("b", {}, r.rows.length.toLocaleString("en")), el("span", {}, r.rows.length === 1 ? "credential" : "credentials")), cards),
    el("p", { class: "muted" }, `Generated ${when(r.generated_at)}; max age ${plural(r.max_age_days, "day")}, unused after ${plural(r.unused_days, "day")}.`,
      r.rows.length > SHOWN ? ` Showing the first ${SHOWN} rows, findings first.` : ""),
    el("table", { class: "rows" }, el("thead", {}, el("tr", {}, LABELS.map((h) => el("th", { scope: "col" }, h)))), tbody));
}

const MAX_DAYS = 3650;

/** The days typed, or null when they are not a whole number from 1 to 3650. */
function daysOf(text) {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return n >= 1 && n <= MAX_DAYS ? n : null;
}

export async function render(root) {
  const days = el("input", { type: "number", min: 1, max: MAX_DAYS, step: 1, value: 90, required: true, "aria-describedby": "max-age-error" });
  const problem = el("p", { id: "max-age-error", class: "form-error", role: "alert", hidden: true });
  const out = el("div", { id: "report-out" });
  const run = el("button", { type: "submit", class: "primary" }, "Run report");
  const say = (text) => {
    problem.textContent = text;
    problem.hidden = !text;
    if (text) days.setAttribute("aria-invalid", "true"); else days.removeAttribute("aria-invalid");
  };
  const submit = async (ev) => {
    ev.preventDefault();
    if (run.disabled) return;
    const n = daysOf(days.value);
    if (n === null) {
      say(`Enter the maximum age as a whole number of days, from 1 to ${MAX_DAYS.toLocaleString("en")}.`);
      days.focus();
      return;
    }
    say("");
    run.disabled = true;
    run.setAttribute("aria-busy", "true");
    out.replaceChildren(el("p", { class: "muted", role: "status" }, "Running the report…"));
    try {
      draw(out, await api("GET", "/api/v1/reports/compliance", { query: { max_age_days: n } }));
    } catch (e) {
      if (e.signedOut) return;
      out.replaceChildren();
      say(`The report could not run: ${e.detail || e.message}`);
    } finally {
      run.disabled = false;
      run.removeAttribute("aria-busy");
    }
  };
  // Not validated by the browser (novalidate): its bubbles are not read out reliably, the message beside the field is.
  const form = el("form", { class: "bar", noValidate: true, "aria-label": "Report options", onsubmit: submit }, field("max-age", "Max age (days)", days), run);
  root.replaceChildren(el("h1", {}, "Compliance report"), form, problem, out);
  root.focus({ preventScroll: true });
}
