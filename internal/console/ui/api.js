// The console's only way to the service: the public REST API on the same
// origin, with the admin key as bearer. The key lives in sessionStorage so
// closing the tab forgets it; nothing is ever written to localStorage.

const keyName = 'authsvc.adminKey';

export function adminKey() {
  return sessionStorage.getItem(keyName) || '';
}

export function setAdminKey(key) {
  sessionStorage.setItem(keyName, key);
}

export function forgetAdminKey() {
  sessionStorage.removeItem(keyName);
}

// ProblemError carries an RFC 9457 problem document from a failed call.
export class ProblemError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// userPath is the URL of one user; encodeURIComponent escapes every character
// of the ZIM userID alphabet that a path would otherwise misread
// (# ? % [ ] { } | ^ < >).
export function userPath(userID) {
  return '/v1/users/' + encodeURIComponent(userID);
}

// query builds a query string from the non-empty values of params.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

let onUnauthorized = () => {};

// whenUnauthorized registers what to do when the key stops being accepted.
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

// call sends one request and returns the decoded JSON body (null for 204).
// A failure throws ProblemError; a 401 also signs the console out.
export async function call(method, path, body, key = adminKey()) {
  const init = { method, headers: { Authorization: 'Bearer ' + key }, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ProblemError(0, { title: 'Network error', detail: 'the service did not answer: ' + err.message, code: 'network' });
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const problem = data && typeof data === 'object' ? data : { title: resp.statusText, detail: `HTTP ${resp.status}` };
    if (resp.status === 401 && key === adminKey()) onUnauthorized(problem);
    throw new ProblemError(resp.status, problem);
  }
  return data;
}
