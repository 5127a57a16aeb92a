// @ts-check
// Talks to the engage API: JSON with the optional bearer token, and the live event stream.

const TOKEN_KEY = 'people-counter-token';

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) ?? '',
  /** @param {string} value */
  set: (value) => (value ? localStorage.setItem(TOKEN_KEY, value) : localStorage.removeItem(TOKEN_KEY)),
};

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ message?: string, error?: string } | null} body the API's error body (src/core/http.ts)
   */
  constructor(status, body) {
    super(body?.message ?? `request failed with ${status}`);
    this.status = status;
    this.code = body?.error;
  }
}

/**
 * Calls the API; resolves with the parsed JSON answer (its shape is the route's, src/engage/api.ts).
 * @param {string} path
 * @param {{ method?: string, body?: unknown, contentType?: string }} [request]
 * @returns {Promise<unknown>}
 */
export async function api(path, { method = 'GET', body, contentType = 'application/json' } = {}) {
  /** @type {Record<string, string>} */
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

/**
 * Adds the token to a GET URL (EventSource and download links cannot send headers).
 * @param {string} path
 */
export function withToken(path) {
  if (!token.get()) return path;
  return `${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token.get())}`;
}

/**
 * What each live event carries (src/engage/events.ts), and the snapshot sent first (src/engage/sse.ts).
 * @typedef {import('../events.js').LiveEvent} LiveEvent
 * @typedef {{ [E in LiveEvent as E['type']]: E['data'] } & { snapshot: Snapshot }} LiveEventData
 * @typedef {{
 *   devices: import('../occupancy.js').DeviceView[],
 *   sites: import('../occupancy.js').SiteOccupancy[],
 *   alerts: import('../../core/messages.js').AlertMessage[],
 *   rules?: import('../events.js').RuleView[],
 *   zones?: import('../store.js').ZoneState[],
 * }} Snapshot
 */

/** @typedef {'live' | 'reconnecting' | 'closed'} ConnectionState */

/**
 * Opens /api/events; `handlers` maps event names to callbacks. Reconnects by itself.
 * @param {{ [E in keyof LiveEventData]?: (data: LiveEventData[E]) => void }} handlers
 * @param {(state: ConnectionState) => void} onState
 */
export function liveEvents(handlers, onState) {
  const source = new EventSource(withToken('/api/events'));
  for (const [name, handler] of Object.entries(handlers)) {
    if (!handler) continue;
    source.addEventListener(name, (event) => handler(JSON.parse(/** @type {MessageEvent} */ (event).data)));
  }
  source.addEventListener('open', () => onState('live'));
  source.addEventListener('error', () => onState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
  return source;
}
