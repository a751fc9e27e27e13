// Talking to the playground server (docs/playground-protocol.md).
// Every call resolves to {ok, status, body}; it never throws, so the page can always show
// what went wrong in its error banner instead of dying on an unhandled rejection.

/** A per-tab session id. crypto.randomUUID exists only in secure contexts (https or
 *  localhost), so a page served on a LAN address falls back to getRandomValues. */
export function newSessionId() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") {
    return crypto.randomUUID();
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function answer(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // A proxy page or an empty body: keep the status so the message says something useful.
    body = { error: `the server answered ${response.status} without JSON`, field: null };
  }
  if (!response.ok && (!body || typeof body.error !== "string")) {
    body = { error: `the server answered ${response.status}`, field: null };
  }
  return { ok: response.ok, status: response.status, body };
}

/** POST a JSON body to an /api/ path. */
async function post(path, payload) {
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    return await answer(response);
  } catch (err) {
    return { ok: false, status: 0, body: { error: `cannot reach the server (${err.message})`, field: null } };
  }
}

export const reset = (session, config) => post("api/reset", { session, config });
/** Train for about maxMs; maxSteps (optional) caps the minibatches so that a small problem
 *  does not finish inside the first update (the server's max_steps, 1 to 20000). */
export function train(session, maxMs, maxSteps = null) {
  const body = { session, max_ms: maxMs };
  if (maxSteps !== null) body.max_steps = maxSteps;
  return post("api/train", body);
}
export const step = (session) => post("api/step", { session });
/** One training row's forward and backward pass with the current weights (row: 0-based). */
export const trace = (session, row) => post("api/trace", { session, row });

/** The training loss on a size x size grid of alpha d1 + beta d2 around the current weights. */
export const landscape = (session, size, radius) => post("api/landscape", { session, size, radius });
/** The library's gradient check on the current network. */
export const gradcheck = (session) => post("api/gradcheck", { session });

/** The export links: plain GETs the server answers with an attachment. */
export function exportUrl(kind, session) {
  return `api/export/${kind}?session=${encodeURIComponent(session)}`;
}
