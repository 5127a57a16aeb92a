// @ts-check
// DOM helpers: every text goes through textContent, so user input (device names) is never parsed as HTML.

/**
 * What `h` takes as attributes: `dataset` entries, `on<event>` listeners, and plain attributes
 * (false, null and undefined leave an attribute out; true sets it empty).
 * @typedef {{ dataset?: Record<string, string | number>, [name: string]: unknown }} Attributes
 */

/** @typedef {Node | string | number | boolean | null | undefined} Child */

/**
 * h('div', { class: 'x', dataset: { id } }, 'text', child)
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attributes} [attributes]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/**
 * The element of index.html with this ID. With `type`, what the page makes it (a form, an input, …):
 * a page that does not match throws here rather than somewhere later.
 * @template {Element} [T=HTMLElement]
 * @param {string} id
 * @param {new () => T} [type]
 * @returns {T}
 */
export function byId(id, type) {
  const element = document.getElementById(id);
  if (type && !(element instanceof type)) throw new Error(`#${id} is not a ${type.name}`);
  return /** @type {T} */ (/** @type {unknown} */ (element));
}

/**
 * A form's control by its name (`form.elements.<name>`), of the type the page makes it.
 * @template {HTMLInputElement | HTMLSelectElement} [T=HTMLInputElement]
 * @param {HTMLFormElement} form
 * @param {string} name
 * @param {new () => T} [type]
 * @returns {T}
 */
export function control(form, name, type) {
  const element = form.elements.namedItem(name);
  if (!(element instanceof (type ?? HTMLInputElement))) throw new Error(`form #${form.id} has no control "${name}"`);
  return /** @type {T} */ (element);
}

/**
 * "12 s ago", "5 min ago", "3 h ago", "4 d ago", or the date: short enough for a tile's footer line.
 * @param {number} unixSeconds
 * @param {number} [now]
 */
export function ago(unixSeconds, now = Date.now() / 1000) {
  const seconds = Math.max(0, Math.round(now - unixSeconds));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  if (seconds < 30 * 86400) return `${Math.floor(seconds / 86400)} d ago`;
  return new Date(unixSeconds * 1000).toLocaleDateString();
}

/**
 * "45 s", "2 min", "1.5 h"
 * @param {number} seconds
 */
export function duration(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 6) / 10} min`;
  return `${Math.round(seconds / 360) / 10} h`;
}

/** @param {number} unixSeconds */
export function clock(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleString([], {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** Updates every "… ago" label once a second. */
export function startRelativeClock() {
  setInterval(() => {
    for (const element of document.querySelectorAll('[data-since]')) {
      if (element instanceof HTMLElement) element.textContent = ago(Number(element.dataset.since));
    }
  }, 1000);
}

/**
 * The message of something thrown (an ApiError, a network failure).
 * @param {unknown} error
 */
export const messageOf = (error) => (error instanceof Error ? error.message : String(error));
