// The Jaeger query API (and Tracegate's additions) as the server answers it:
// {"data": …, "errors": null} or, on failure, {"errors": [{"code", "msg"}]}.

export class ApiError extends Error {
  constructor(status, text) {
    super(text);
    this.status = status;
  }
}

// With `auth` on the query extension the API wants a bearer token. The page
// asks for it once (app.js) and keeps it for this tab only.
const TOKEN_KEY = "tracegate.token";

export function savedToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
}

export function saveToken(token) {
  try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* storage off: asked again next time */ }
}

/** GETs an API path and returns the whole JSON body; throws ApiError. */
export async function getJSON(path) {
  let response;
  const headers = { Accept: "application/json" };
  const token = savedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    response = await fetch(path, { headers });
  } catch (e) {
    throw new ApiError(0, `Cannot reach the server (${e.message})`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(response.status, `The server answered ${response.status} ${response.statusText} without JSON`);
  }
  const errors = body && Array.isArray(body.errors) ? body.errors : [];
  if (response.status === 401) window.dispatchEvent(new CustomEvent("tracegate:unauthorized"));
  if (!response.ok || errors.length > 0) {
    const text = errors.map((e) => (e && e.msg) ? String(e.msg) : JSON.stringify(e)).join("; ");
    throw new ApiError(response.status, text || `The server answered ${response.status} ${response.statusText}`);
  }
  return body;
}

/** The `data` of an API answer. */
export async function getData(path) {
  return (await getJSON(path)).data;
}

export const enc = encodeURIComponent;

export function fetchServices() {
  return getData("/api/services");
}

export function fetchOperations(service) {
  return getData(`/api/services/${enc(service)}/operations`);
}

export async function fetchTrace(traceID) {
  const data = await getData(`/api/traces/${enc(traceID)}`);
  if (!Array.isArray(data) || data.length === 0) throw new ApiError(404, `Trace ${traceID} not found`);
  return data[0];
}

export function fetchTraceState(traceID) {
  return getData(`/api/tracegate/traces/${enc(traceID)}/state`);
}

export function fetchOTLPTrace(traceID) {
  return getJSON(`/api/v3/traces/${enc(traceID)}`);
}
