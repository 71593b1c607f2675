// The console's one way to the JSON API. The session cookie authenticates (sent by the browser,
// same origin only); every request that changes something carries the session's CSRF token and a
// fresh Idempotency-Key, so a double click or a retried request is executed once.

let csrfToken = null;

export function useCsrfToken(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.code = problem && problem.code;
    this.field = problem && problem.field;
  }
}

async function send(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = csrfToken || '';
    headers['Idempotency-Key'] = `console-${crypto.randomUUID()}`;
  }
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const value = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, value);
  return value;
}

export const api = {
  get: (path) => send('GET', path),
  post: (path, body) => send('POST', path, body === undefined ? {} : body),
  put: (path, body) => send('PUT', path, body),
  patch: (path, body) => send('PATCH', path, body),
  del: (path) => send('DELETE', path),
};

// A query string from the set values of `params`.
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
