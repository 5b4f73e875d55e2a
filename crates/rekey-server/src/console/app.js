//! The console's shell: sign-in and sign-out, the header (token name and role), the navigation,
//! idle sign-out, and the hash router that hands each URL to its view module. URLs name views
//! (`#/overview`, `#/accounts?heartbeat=failing`, `#/accounts/ID`, `#/rotations/ID`, `#/audit`,
//! `#/report`), so the back button and bookmarks work. A view's `render(root, route)` may
//! return a function that stops its timers when the user leaves it.

import { session, signIn, forget, signedOutReason } from "/ui/api.js";
import { el, toast, clearError, closeDialog } from "/ui/ui.js";
import * as overview from "/ui/overview.js";
import * as accounts from "/ui/accounts.js";
import * as account from "/ui/account.js";
import * as rotations from "/ui/rotations.js";
import * as audit from "/ui/audit.js";
import * as report from "/ui/report.js";

const $ = (id) => document.getElementById(id);
const IDLE_MS = 15 * 60_000;
let leave = null;
let lastActive = Date.now();
let loginSection = null;

/** `#/accounts/ID?x=1` → { view: "accounts", id: "ID", params: URLSearchParams }. */
function parse(hash) {
  const [path, query] = hash.replace(/^#\/?/, "").split("?");
  const [view, id] = path.split("/").map(decodeURIComponent);
  return { view: view || "overview", id, params: new URLSearchParams(query || "") };
}

function viewFor(route) {
  if (route.view === "accounts") return route.id ? account : accounts;
  return { overview, rotations, audit, report }[route.view];
}

async function route() {
  if (leave) { leave(); leave = null; }
  if (!session.who) return showLogin();
  clearError(); // an error of the page left behind says nothing about the next one
  const r = parse(location.hash);
  const view = viewFor(r);
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === r.view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = $("view");
  if (!view) {
    root.replaceChildren(el("h1", {}, "Not found"), el("p", {}, "No such page. "), el("a", { href: "#/overview" }, "Go to the overview"));
    return;
  }
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  delete root.dataset.state; // a view sets its own (ready, finished, …) once drawn
  window.scrollTo(0, 0);
  try {
    leave = (await view.render(root, r)) || null;
  } catch (e) {
    if (e.signedOut || !session.who) return; // the sign-in screen has replaced the page
    root.replaceChildren(el("h1", {}, "Could not load this page"), el("p", { class: "bad", role: "alert" }, e.message));
  }
}

/** Says on the sign-in screen why the tab was signed out ("" says nothing). */
function loginReason(text) {
  $("login-reason").textContent = text;
  $("login-reason").hidden = !text;
}

/** The sign-in screen; `reason`, when given, says why the tab was signed out (kept until the next sign-in). */
function showLogin(reason) {
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("view").replaceChildren(loginSection);
  if (reason !== undefined) loginReason(reason); // once in the page, so that it is announced
  $("token").focus();
}

function showShell() {
  const who = session.who;
  $("nav").hidden = false;
  for (const a of document.querySelectorAll("#nav a[data-needs]")) a.hidden = !who.allows[a.dataset.needs];
  $("logout").hidden = false;
  $("who").textContent = `${who.name || who.token_id} · ${who.role}`;
  $("who").title = who.folders ? `Folders: ${who.folders.join(", ")}` : "All folders";
}

function signOut(message) {
  if (leave) { leave(); leave = null; }
  closeDialog();
  forget();
  clearError();
  showLogin(message || "");
}

async function submitLogin(ev) {
  ev.preventDefault();
  const input = $("token");
  const t = input.value.trim();
  input.value = "";
  const button = ev.target.querySelector("button");
  button.disabled = true;
  try {
    await signIn(t);
    loginReason("");
    lastActive = Date.now();
    showShell();
    if (!location.hash || location.hash === "#/" || location.hash === "#") location.hash = "#/overview";
    else route();
  } catch (e) {
    toast(e.status === 401 ? "That token was not accepted (unknown, revoked or expired)." : e.message, true);
  } finally {
    button.disabled = false;
  }
}

function watchIdle() {
  for (const ev of ["pointerdown", "keydown", "wheel"]) window.addEventListener(ev, () => { lastActive = Date.now(); }, { passive: true });
  setInterval(() => {
    if (session.who && Date.now() - lastActive > IDLE_MS) signOut("Signed out after 15 minutes without activity.");
  }, 30_000);
}

async function start() {
  loginSection = $("login");
  $("login-form").addEventListener("submit", submitLogin);
  $("logout").onclick = () => signOut("Signed out.");
  window.addEventListener("hashchange", route);
  window.addEventListener("rekey-signed-out", (e) => signOut(e.detail));
  watchIdle();
  if (session.token) {
    try {
      await signIn(session.token);
      showShell();
    } catch (e) {
      if (e.status === 401) forget();
      showLogin(e.status === 401 ? signedOutReason(e.detail) : `Could not check the saved token: ${e.message}`);
    }
  }
  route();
}

start();
