//! Small DOM helpers shared by the views: elements built from text (API data is never parsed as
//! HTML), the status toast, the accessible modal dialog (confirmations and small forms instead of
//! `confirm()`/`prompt()`), masked secrets with reveal-on-click and auto-hide, and buttons that
//! stay disabled while their request runs.

const $ = (id) => document.getElementById(id);

/** An element: `attrs` sets properties (class, href, …) and `aria-*`/`data-*` attributes. */
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("aria-") || k.startsWith("data-") || k === "role" || k === "for" || k === "scope") e.setAttribute(k, v);
    else if (k === "class") e.className = v;
    else e[k] = v;
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** A table cell; `cls` adds a class. */
export const td = (text, cls) => el("td", { class: cls }, text ?? "—");

/** `2026-12-06T02:14:13.5Z` → `2026-12-06 02:14 UTC`. */
export const when = (t) => (t ? `${t.slice(0, 10)} ${t.slice(11, 16)} UTC` : "—");

/**
 * A page's `total` as shown: `10,000+` when the server stopped counting at its cap
 * (`total_exact` false: at least that many match), else the exact number.
 */
export const totalText = (page) => `${page.total.toLocaleString("en")}${page.total_exact === false ? "+" : ""}`;

/** The title of a count that stopped at the cap, saying what `+` means (none for an exact one). */
export const totalTitle = (page) => (page.total_exact === false ? `more than ${page.total.toLocaleString("en")} match; counting stops there` : "");

/** Days since `t` (whole days), or "—". */
export function ageDays(t) {
  return t ? Math.floor((Date.now() - Date.parse(t)) / 86_400_000) : "—";
}

/** Shows `text` in the status area; errors stay longer, and until replaced when `sticky`. */
export function toast(text, error, sticky) {
  const t = $("toast");
  t.textContent = text;
  t.className = error ? "error" : "";
  t.setAttribute("role", error ? "alert" : "status");
  t.hidden = false;
  clearTimeout(toast.timer);
  if (!sticky) toast.timer = setTimeout(() => { t.hidden = true; }, error ? 10_000 : 5_000);
}

/** Shows an error's message in the status area. */
export const fail = (e) => { if (e.name !== "AbortError") toast(e.message, true); };

/**
 * Opens the modal dialog with `body` (nodes) and resolves to true on OK, false on cancel or
 * Escape. `ok` = OK button label ("" hides it); `cancel` likewise.
 */
export function dialog(title, body, { ok = "OK", cancel = "Cancel", danger = false } = {}) {
  const d = $("dialog");
  $("dialog-title").textContent = title;
  $("dialog-body").replaceChildren(...body);
  const okButton = $("dialog-ok");
  okButton.textContent = ok;
  okButton.hidden = !ok;
  okButton.className = danger ? "danger primary" : "primary";
  $("dialog-cancel").textContent = cancel;
  $("dialog-cancel").onclick = () => d.close("cancel");
  $("dialog-cancel").hidden = !cancel;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    d.addEventListener("close", () => {
      const result = d.returnValue === "ok";
      // A closed dialog keeps nothing: its old title would still be a heading in the page.
      $("dialog-title").textContent = "";
      $("dialog-body").replaceChildren();
      if (opener && opener.isConnected) opener.focus();
      resolve(result);
    }, { once: true });
    d.returnValue = "";
    d.showModal();
    const first = $("dialog-body").querySelector("input, select") || (ok ? okButton : $("dialog-cancel"));
    first.focus();
  });
}

/** A confirmation dialog; resolves to true when confirmed. */
export const confirmDialog = (title, text, ok, danger) => dialog(title, [el("p", {}, text)], { ok, danger });

/** Closes the dialog if one is open (sign-out). */
export function closeDialog() {
  if ($("dialog").open) $("dialog").close("cancel");
}

/** A labelled form field. */
export function field(id, label, input, hint) {
  input.id = id;
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  return el("div", { class: "field" }, el("label", { for: id }, label), input, hint && el("small", { id: `${id}-hint`, class: "muted" }, hint));
}

const HIDE_AFTER_MS = 30_000;

/**
 * A secret shown masked; "Show" reveals it for 30 s, "Copy" copies it. The text leaves the page
 * when the dialog holding it closes (the node is dropped).
 */
export function secretView(secret, label) {
  const value = el("code", { class: "secret", "aria-label": `${label} (hidden)` }, "••••••••••••");
  const show = el("button", { type: "button", "aria-pressed": "false" }, "Show");
  let timer;
  const hide = () => {
    value.textContent = "••••••••••••";
    value.setAttribute("aria-label", `${label} (hidden)`);
    show.textContent = "Show";
    show.setAttribute("aria-pressed", "false");
  };
  show.onclick = () => {
    clearTimeout(timer);
    if (show.getAttribute("aria-pressed") === "true") return hide();
    value.textContent = secret;
    value.setAttribute("aria-label", label);
    show.textContent = "Hide";
    show.setAttribute("aria-pressed", "true");
    timer = setTimeout(hide, HIDE_AFTER_MS);
  };
  const copy = el("button", { type: "button" }, "Copy");
  copy.hidden = !navigator.clipboard;
  copy.onclick = () => navigator.clipboard.writeText(secret).then(() => toast("Copied"), fail);
  return el("div", { class: "secret-row" }, el("span", {}, `${label}: `), value, show, copy,
    el("small", { class: "muted" }, " Hidden again after 30 seconds."));
}

/** Runs `fn` with `button` disabled (and marked busy) until it settles. */
export async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } catch (e) {
    fail(e);
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** A button that runs `fn` through [`busy`]. */
export function action(label, fn, attrs) {
  const b = el("button", { type: "button", ...attrs }, label);
  b.onclick = () => busy(b, fn);
  return b;
}

/** A definition list from [term, value] pairs (values may be nodes). */
export function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "—")]));
}

/** A class for a status word: ok / bad / warn. */
export function tone(s) {
  if (s === "ok" || s === "done") return "ok";
  if (s === null || s === undefined || s === "never") return "muted";
  if (["retiring", "awaiting-confirmation", "skipped", "planned"].includes(s)) return "warn";
  return "bad";
}
