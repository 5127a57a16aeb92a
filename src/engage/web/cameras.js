// @ts-check
// The cameras the page knows (from the live events) and the one way a camera is named on the page: its name,
// else its ID. Every tile, list and dialog names a camera through here.

/** @typedef {import('../occupancy.js').DeviceView} DeviceView */

/** @type {Map<string, DeviceView>} by device ID, kept by app.js from the live events */
export const devices = new Map();

/** @param {{ id: string, name?: string | null }} device */
export const deviceLabel = (device) => device.name ?? device.id;

/**
 * The name shown for a camera known only by its ID (a tuning status, a registered camera).
 * @param {string} id
 */
export const cameraLabel = (id) => deviceLabel(devices.get(id) ?? { id });
