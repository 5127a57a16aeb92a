/**
 * Time as a dependency: services take a Clock instead of calling Date.now/setTimeout, so that
 * tests can drive timers and leases deterministically (a manual clock) and production uses the
 * system clock.
 */

/** Cancels a scheduled callback; calling it after the callback ran is harmless. */
export type Cancel = () => void;

export interface Clock {
  /** Milliseconds since the epoch (wall clock; only compared with itself). */
  now(): number;
  /** Runs `callback` once after `ms`; the returned function cancels it. */
  schedule(ms: number, callback: () => void): Cancel;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(ms, callback) {
    const timer = setTimeout(callback, Math.max(0, ms));
    return () => clearTimeout(timer);
  },
};

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.schedule(ms, resolve);
  });
}

/** Runs `callback` every `ms` until cancelled (the next run is scheduled when one starts). */
export function every(clock: Clock, ms: number, callback: () => void): Cancel {
  let cancelNext: Cancel = () => undefined;
  let cancelled = false;
  const tick = () => {
    if (cancelled) return;
    cancelNext = clock.schedule(ms, tick);
    callback();
  };
  cancelNext = clock.schedule(ms, tick);
  return () => {
    cancelled = true;
    cancelNext();
  };
}
