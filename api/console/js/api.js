// The console only calls the API, with the same token, scopes and tenancy as any client. The token lives in this
// tab's sessionStorage: it is gone when the tab closes, and another tab signs in on its own.

const TOKEN = "mas.console.token";
const TENANT = "mas.console.tenant";
const KEY_TENANT = "mas.console.keyTenant";
const SCOPES = "mas.console.scopes";
export const PLATFORM = "*";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  get tenant() { return sessionStorage.getItem(TENANT); },
  get keyTenant() { return sessionStorage.getItem(KEY_TENANT); },
  get scopes() { return JSON.parse(sessionStorage.getItem(SCOPES) || "[]"); },
  get isPlatform() { return this.keyTenant === PLATFORM; },
  can(scope) { return this.scopes.includes(scope) || this.scopes.includes("backend:admin"); },
  pickTenant(tenantId) { sessionStorage.setItem(TENANT, tenantId); },
  forgetTenant() { sessionStorage.removeItem(TENANT); },
  clear() { for (const name of [TOKEN, TENANT, KEY_TENANT, SCOPES]) sessionStorage.removeItem(name); },
};

export async function signIn(appKey) {
  const response = await fetch("/v1/auth/token", { method: "POST", headers: { "X-App-Key": appKey.trim() } });
  const body = await parse(response);
  sessionStorage.setItem(TOKEN, body.access_token);
  sessionStorage.setItem(KEY_TENANT, body.tenant_id);
  sessionStorage.setItem(SCOPES, JSON.stringify(body.scopes));
  if (body.tenant_id !== PLATFORM) session.pickTenant(body.tenant_id);
  else session.forgetTenant();
  return body;
}

// `query`: an object of search parameters (null values left out); `body`: JSON, or a string sent as `contentType`.
export async function api(method, path, { query = null, body = undefined, contentType = null, raw = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Authorization: `Bearer ${session.token}` };
  if (session.isPlatform && session.tenant) headers["X-Tenant-ID"] = session.tenant;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(url, { method, headers, body: payload });
  if (response.status === 401) {
    session.clear();
    window.dispatchEvent(new Event("mas:signed-out"));
  }
  if (raw && response.ok) return response;
  return parse(response);
}

async function parse(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(response.status, error.code || `HTTP_${response.status}`, error.message || text || response.statusText,
                       error.details);
  }
  return body;
}
