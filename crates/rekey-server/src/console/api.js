//! The console's one door to the server: every call goes through `api()` with the bearer token
//! of this tab (sessionStorage only), answers are JSON, and errors carry the server's message and
//! hint (`events()` reads a server-sent event stream the same way). A 401 signs the tab out, saying
//! why. `session.who` is `GET /api/v1/whoami`, which decides what the
//! screens offer (`can("operate")` …); the server checks every action again.

export const session = { token: sessionStorage.getItem("rekey-token") || "", who: null };

/**
 * Calls the API: `query` (object) becomes the query string, `body` is sent as JSON, `signal`
 * cancels. Resolves to the parsed JSON; rejects with an Error carrying `status`.
 */
export async function api(method, path, { query, body, signal } = {}) {
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const init = { method, headers, cache: "no-store", signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await fetch(path + qs(query || {}), init);
  const text = await resp.text();
  let data;
  try { data = text ? JSON.parse(text) : {}; } catch { data = { message: text }; }
  if (!resp.ok) throw refusal(resp, data);
  return data;
}

/**
 * The Error for an answer that is not 2xx: `message` is the server's message and hint (for the
 * status area), `detail` the message alone (for a form), `status` the HTTP status. A 401 to a
 * signed-in tab signs it out, saying why in the console's words (the API's hint is for API
 * clients), and is marked `signedOut` so that no view reports it again.
 */
function refusal(resp, data) {
  const detail = data.message || resp.statusText;
  const err = new Error(`${detail}${data.hint ? ` (${data.hint})` : ""}`);
  err.status = resp.status;
  err.detail = detail;
  if (resp.status === 401 && session.who) {
    err.signedOut = true;
    window.dispatchEvent(new CustomEvent("rekey-signed-out", { detail: signedOutReason(detail) }));
  }
  return err;
}

/** Why the server refused a token that was signed in, as the sign-in screen says it. */
export function signedOutReason(message) {
  if (/expired/i.test(message)) return "Your token has expired; sign in again.";
  if (/revoked/i.test(message)) return "Your token was revoked; sign in with another one.";
  return "Your token is no longer accepted; sign in again.";
}

/**
 * The `data` of each server-sent event of `path` (parsed as JSON), until the server ends the
 * stream or `signal` aborts. A fetch rather than EventSource, which cannot send the bearer token.
 * Rejects like `api()` when the server answers with an error instead of a stream.
 */
export async function* events(path, signal) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${session.token}`, Accept: "text/event-stream" }, cache: "no-store", signal });
  if (!resp.ok || !resp.body) {
    let data;
    try { data = await resp.json(); } catch { data = {}; }
    throw refusal(resp, data);
  }
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data) yield JSON.parse(data);
    }
  }
}

/** A query string from the non-empty entries of `params` ("" when there are none). */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Whether the signed-in token's role allows `action` (read, operate, checkout, reveal, administer, audit). */
export function can(action) {
  return Boolean(session.who && session.who.allows && session.who.allows[action]);
}

/** Checks `token` with whoami and keeps it for this tab. */
export async function signIn(token) {
  session.token = token;
  try {
    session.who = await api("GET", "/api/v1/whoami");
  } catch (e) {
    session.token = "";
    session.who = null;
    throw e;
  }
  sessionStorage.setItem("rekey-token", token);
  return session.who;
}

/** Forgets the token. */
export function forget() {
  session.token = "";
  session.who = null;
  sessionStorage.removeItem("rekey-token");
}

/** A display name for an account: its `ref`, or PROVIDER/USER/KIND. */
export const ref = (a) => a.ref || `${a.provider}/${a.user_name}/${a.kind}`;
