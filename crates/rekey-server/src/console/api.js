//! The console's one door to the server: every call goes through `api()` with the bearer token
//! of this tab (sessionStorage only), answers are JSON, and errors carry the server's message and
//! hint (`events()` reads a server-sent event stream the same way). A 401 signs the tab out. `session.who` is `GET /api/v1/whoami`, which decides what the
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
  if (!resp.ok) {
    if (resp.status === 401 && session.token) window.dispatchEvent(new CustomEvent("rekey-signed-out", { detail: "Your token was refused; sign in again." }));
    const err = new Error(`${data.message || resp.statusText}${data.hint ? ` (${data.hint})` : ""}`);
    err.status = resp.status;
    throw err;
  }
  return data;
}

/**
 * The `data` of each server-sent event of `path` (parsed as JSON), until the server ends the
 * stream or `signal` aborts. A fetch rather than EventSource, which cannot send the bearer token.
 * Rejects like `api()` when the server answers with an error instead of a stream.
 */
export async function* events(path, signal) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${session.token}`, Accept: "text/event-stream" }, cache: "no-store", signal });
  if (!resp.ok || !resp.body) {
    const err = new Error(`${resp.status} ${resp.statusText}`);
    err.status = resp.status;
    throw err;
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
