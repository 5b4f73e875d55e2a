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

/** A page's total with its noun: `1 rotation`, `2 rotations`, `10,000+ rotations`. */
export const countText = (page, one, many = `${one}s`) => `${totalText(page)} ${page.total === 1 && page.total_exact !== false ? one : many}`;

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

/** Hides an error in the status area (it was about the page being left). */
export function clearError() {
  const t = $("toast");
  if (t.className === "error") { clearTimeout(toast.timer); t.hidden = true; }
}

/** Shows an error's message in the status area (not a cancelled request, nor the 401 that signed the tab out). */
export const fail = (e) => { if (e.name !== "AbortError" && !e.signedOut) toast(e.message, true); };

/**
 * An error as a form shows it beside its fields: the server's message without the API hint, and
 * without the JSON parser's wording and position (the user typed into a form, not JSON).
 */
export function formMessage(e) {
  return (e.detail || e.message).replace(/^invalid JSON body: /, "").replace(/ at line \d+ column \d+$/, "");
}

/** `1 password`, `2 passwords`, `1,000 accounts`: a count with its noun in the right number. */
export function plural(n, one, many = `${one}s`) {
  return `${Number(n).toLocaleString("en")} ${n === 1 ? one : many}`;
}

/** Whether an error is the server refusing the request itself (4xx), which asking again will not change. */
export const refused = (e) => e.status >= 400 && e.status < 500;

/** The button whose action runs now (see [`busy`]), if any. */
let acting = null;

/** What has the focus, or else the button whose action opened the dialog: disabling that button may have taken the focus from it. */
function openerNow() {
  const active = document.activeElement;
  return active && active !== document.body && active !== $("view") ? active : acting;
}

/**
 * Gives the focus back to `opener` when a dialog closes. An opener that runs its action through
 * [`busy`] is disabled while the dialog is open, and a disabled button cannot take the focus:
 * then it is focused once enabled again — or, when the action redrew the page meanwhile, the
 * button of the same id on the new page — unless the focus has gone somewhere meanwhile.
 */
function returnFocus(opener) {
  if (!opener || opener === document.body || !opener.focus) return;
  // Lost: nowhere, on the page's main element after a redraw, or still in the closed dialog (the browser moves it out later).
  const lost = () => {
    const a = document.activeElement;
    return !a || a === document.body || a === $("view") || (!$("dialog").open && $("dialog").contains(a));
  };
  const target = () => (opener.isConnected ? opener : opener.id && document.getElementById(opener.id));
  if (!opener.disabled) { opener.focus(); return; }
  const watch = new MutationObserver(() => {
    if (opener.disabled) return;
    watch.disconnect();
    const t = target();
    if (t && !t.disabled && !$("dialog").open && lost()) t.focus();
  });
  watch.observe(opener, { attributes: true, attributeFilter: ["disabled"] });
}

/**
 * Opens the modal dialog with `body` (nodes) and resolves to true on OK, false on cancel or
 * Escape. `ok` = OK button label ("" hides it); `cancel` likewise. `initial: "cancel"` puts the
 * first focus on Cancel (confirmations of what cannot be undone), else it goes to the first field
 * or OK. With `submit` (async), OK runs it with the dialog open: an error is shown in the dialog,
 * beside the fields it describes, and the user may correct them and try again; the dialog closes
 * when `submit` succeeds.
 */
export function dialog(title, body, { ok = "OK", cancel = "Cancel", danger = false, initial, submit } = {}) {
  const d = $("dialog");
  $("dialog-title").textContent = title;
  $("dialog-body").replaceChildren(...body);
  showDialogError(null);
  const okButton = $("dialog-ok");
  okButton.textContent = ok;
  okButton.hidden = !ok;
  okButton.className = danger ? "danger primary" : "primary";
  $("dialog-cancel").textContent = cancel;
  $("dialog-cancel").onclick = () => d.close("cancel");
  $("dialog-cancel").hidden = !cancel;
  const opened = new Map(dialogFields().map((f) => [f, f.value]));
  $("dialog-form").onsubmit = submit ? (ev) => { ev.preventDefault(); submitDialog(submit, opened); } : null;
  // Not closed while its request runs: what that request does (a check-out) must be shown.
  d.oncancel = (ev) => { if (okButton.getAttribute("aria-busy")) ev.preventDefault(); };
  const opener = openerNow();
  return new Promise((resolve) => {
    d.addEventListener("close", () => {
      const result = d.returnValue === "ok";
      // A closed dialog keeps nothing: its old title would still be a heading in the page.
      $("dialog-title").textContent = "";
      $("dialog-body").replaceChildren();
      showDialogError(null);
      $("dialog-form").onsubmit = null;
      okButton.disabled = false;
      okButton.removeAttribute("aria-busy");
      returnFocus(opener);
      resolve(result);
    }, { once: true });
    d.returnValue = "";
    d.showModal();
    const field = $("dialog-body").querySelector("input, select");
    const first = initial === "cancel" && cancel ? $("dialog-cancel") : field || (ok ? okButton : $("dialog-cancel"));
    first.focus();
  });
}

/** The fields of the open dialog. */
const dialogFields = () => [...$("dialog-body").querySelectorAll("input, select")];

/**
 * Shows `message` in the dialog (null clears it): every field is described by it, and the fields
 * the user changed from their values when it `opened` (all when none was) are marked invalid.
 */
function showDialogError(message, opened = new Map()) {
  const box = $("dialog-error");
  box.textContent = message || "";
  box.hidden = !message;
  const fields = dialogFields();
  const changed = fields.filter((f) => opened.has(f) && opened.get(f) !== f.value);
  for (const f of fields) {
    const ids = (f.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== "dialog-error");
    if (message) ids.push("dialog-error");
    if (ids.length) f.setAttribute("aria-describedby", ids.join(" ")); else f.removeAttribute("aria-describedby");
    if (message && (!changed.length || changed.includes(f))) f.setAttribute("aria-invalid", "true"); else f.removeAttribute("aria-invalid");
  }
  return changed.length ? changed : fields;
}

/** OK of a dialog with `submit`: runs it once at a time; closes on success, else shows why and stays. */
async function submitDialog(submit, opened) {
  const d = $("dialog");
  const okButton = $("dialog-ok");
  if (okButton.disabled) return;
  okButton.disabled = true;
  okButton.setAttribute("aria-busy", "true");
  $("dialog-cancel").disabled = true;
  try {
    await submit();
    if (d.open) d.close("ok");
  } catch (e) {
    if (!d.open || e.signedOut) return;
    const suspects = showDialogError(formMessage(e), opened);
    // Typing on from a field keeps its place; from OK, the focus goes to the first field to correct.
    if (!suspects.includes(document.activeElement) && suspects[0]) suspects[0].focus();
  } finally {
    okButton.disabled = false;
    okButton.removeAttribute("aria-busy");
    $("dialog-cancel").disabled = false;
  }
}

/** A confirmation dialog; resolves to true when confirmed. The focus starts on Cancel. */
export const confirmDialog = (title, text, ok, danger) => dialog(title, [el("p", {}, text)], { ok, danger, initial: "cancel" });

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
  acting = button;
  try {
    return await fn();
  } catch (e) {
    fail(e);
    return undefined;
  } finally {
    if (acting === button) acting = null;
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
