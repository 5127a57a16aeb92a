/**
 * The counter interface and camera profiles now live in src/core/people-counter.ts; this re-export only
 * serves auto-regime.ts until its next edit imports from core (then delete this file).
 */
export type { CameraProfile } from '../core/people-counter.js';
