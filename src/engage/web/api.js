// Talks to the engage API: JSON with the optional bearer token, and the live event stream.

const TOKEN_KEY = 'people-counter-token';

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) ?? '',
  set: (value) => (value ? localStorage.setItem(TOKEN_KEY, value) : localStorage.removeItem(TOKEN_KEY)),
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `request failed with ${status}`);
    this.status = status;
    this.code = body?.error;
  }
}

export async function api(path, { method = 'GET', body, contentType = 'application/json' } = {}) {
  const headers = {};
  if (token.get()) headers.authorization = `Bearer ${token.get()}`;
  if (body !== undefined) headers['content-type'] = contentType;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined || body instanceof Blob ? body : JSON.stringify(body),
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/** Adds the token to a GET URL (EventSource and download links cannot send headers). */
export function withToken(path) {
  if (!token.get()) return path;
  return `${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token.get())}`;
}

/** Opens /api/events; `handlers` maps event names to callbacks. Reconnects by itself. */
export function liveEvents(handlers, onState) {
  const source = new EventSource(withToken('/api/events'));
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
  }
  source.addEventListener('open', () => onState('live'));
  source.addEventListener('error', () => onState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
  return source;
}
