//! `#/overview`: what needs attention, from `GET /api/v1/overview`. Each count links to the
//! account list filtered the same way (so the number on the card is the list's total), and the
//! age of the current credentials is drawn as an SVG bar chart with a text equivalent.

import { api } from "/ui/api.js";
import { el, when, plural } from "/ui/ui.js";

/** [count, label for one, label for any other number, filter, whether a non-zero count needs attention]. */
const CARDS = [
  ["accounts", "Account", "Accounts", "", false],
  ["overdue", "Overdue for rotation", "Overdue for rotation", "overdue=true", true],
  ["heartbeat_failing", "Failing heartbeat", "Failing heartbeats", "heartbeat=failing", true],
  ["rotations_failed", "Failed or aborted rotation", "Failed or aborted rotations", "rotation=failed", true],
  ["foreign_keys", "User with foreign keys", "Users with foreign keys", "owner=foreign", true],
  ["checked_out", "Password checked out", "Passwords checked out", "checked_out=true", false],
];

function card(o, [key, one, many, filter, alarming]) {
  const n = o[key] ?? 0;
  const label = n === 1 ? one : many;
  const cls = `card${alarming && n > 0 ? " attention" : ""}`;
  return el("a", { class: cls, href: `#/accounts${filter ? `?${filter}` : ""}`, "data-count": key },
    el("b", {}, n.toLocaleString("en")), el("span", {}, label));
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Bars of `buckets` ([{bucket, count}]) in a 320×160 SVG that scales with its box. */
function ageChart(buckets) {
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const w = 320, h = 160, pad = 24, bw = (w - pad) / buckets.length;
  const summary = buckets.map((b) => `${b.bucket} days: ${plural(b.count, "credential")}`).join("; ");
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-labelledby": "age-title age-desc", class: "chart" });
  chart.append(svg("title", { id: "age-title" }, "Age of current credentials"), svg("desc", { id: "age-desc" }, summary));
  buckets.forEach((b, i) => {
    const bh = Math.round(((h - 2 * pad) * b.count) / max);
    const x = pad / 2 + i * bw + 6;
    const old = b.bucket === "90+";
    chart.append(
      svg("rect", { x, y: h - pad - bh, width: bw - 12, height: Math.max(bh, 1), class: old ? "bar old" : "bar" }),
      svg("text", { x: x + (bw - 12) / 2, y: h - pad - bh - 4, "text-anchor": "middle", class: "label" }, String(b.count)),
      svg("text", { x: x + (bw - 12) / 2, y: h - 6, "text-anchor": "middle", class: "label" }, `${b.bucket} d`),
    );
  });
  return chart;
}

export async function render(root) {
  const o = await api("GET", "/api/v1/overview");
  const kinds = o.by_kind || {};
  root.replaceChildren(
    el("h1", {}, "Overview"),
    el("nav", { class: "cards", "aria-label": "Counts" }, CARDS.map((c) => card(o, c))),
    el("p", { class: "muted" },
      `${plural(kinds.access_key ?? 0, "access key")}, ${plural(kinds.password ?? 0, "password")}. `,
      `Facts as of ${when(o.report_at)}.`),
    el("section", { "aria-labelledby": "age-h" },
      el("h2", { id: "age-h" }, "Age of current credentials"),
      ageChart(o.age_days || [])),
  );
  root.focus({ preventScroll: true });
}
