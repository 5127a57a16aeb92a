// DOM helpers: every text goes through textContent, so user input (device names) is never parsed as HTML.

/** h('div', { class: 'x', dataset: { id } }, 'text', child) */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export const byId = (id) => document.getElementById(id);

/** "12 s ago", "5 min ago", "3 h ago", or a date. */
export function ago(unixSeconds, now = Date.now() / 1000) {
  if (unixSeconds === null || unixSeconds === undefined) return 'never';
  const seconds = Math.max(0, Math.round(now - unixSeconds));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(unixSeconds * 1000).toLocaleString();
}

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
      element.textContent = ago(Number(element.dataset.since));
    }
  }, 1000);
}
