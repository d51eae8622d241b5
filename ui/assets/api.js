// api.js: the management API (/api/v1/) from the page. The session is the HttpOnly
// cookie set by POST /login; every state-changing call sends the session's CSRF
// token in X-CSRF-Token (from the login answer, or GET /me after a reload).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrf = null;
let onUnauthorized = null;

export function setCsrf(token) {
  csrf = token || null;
}
// fn() is called when a call other than /login answers 401 (the session ended).
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const opts = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  let r;
  try {
    r = await fetch('/api/v1' + path, opts);
  } catch (e) {
    throw new ApiError(0, 'NETWORK', 'the registry cannot be reached: ' + e.message);
  }
  if (r.status === 204) return null;
  let data = null;
  try {
    data = await r.json();
  } catch {
    data = null;
  }
  if (!r.ok) {
    const err = data && data.error ? data.error : {};
    if (r.status === 401 && path !== '/login' && onUnauthorized) onUnauthorized();
    throw new ApiError(r.status, err.code || 'HTTP_' + r.status, err.message || r.statusText || 'request failed');
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body ?? {});
export const put = (path, body) => call('PUT', path, body ?? {});
export const patch = (path, body) => call('PATCH', path, body ?? {});
export const del = (path) => call('DELETE', path);

// A query string of the non-empty values: qs({q: 'a', cursor: null}) → "?q=a"
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? '?' + s : '';
}

// A name in a path: each segment encoded, the slashes of a repository name kept
// (the API reads repository names with their slashes, sub-resources after /-/).
export function seg(name) {
  return String(name).split('/').map(encodeURIComponent).join('/');
}

export const PAGE = 50;
