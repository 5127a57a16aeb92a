/**
 * What the `auto` default remembers per camera: when the density network last checked its view and
 * whether that check found a crowd. A crowd camera is checked on every photo (its count is density's);
 * a quiet one only every `everyMs`, so its photos cost one pass in the steady state. A photo without a
 * camera (the CLI's `count` and `eval`, the analytics service without `camera`) is always checked.
 */
import type { Clock } from '../core/clock.js';

interface LastCheck {
  crowd: boolean;
  at: number;
}

/** Cameras remembered at most; the least recently checked are forgotten first (and checked again). */
export const CROWD_MEMORY_CAMERAS = 100_000;

export class CrowdMemory {
  private readonly cameras = new Map<string, LastCheck>();

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly everyMs: number,
    private readonly capacity = CROWD_MEMORY_CAMERAS,
  ) {}

  /** Should this camera's photo go through the density network? */
  needsCheck(camera: string | undefined): boolean {
    if (camera === undefined) return true;
    const last = this.cameras.get(camera);
    return last === undefined || last.crowd || this.clock.now() - last.at >= this.everyMs;
  }

  /** The outcome of a density check of this camera's view. */
  checked(camera: string | undefined, crowd: boolean): void {
    if (camera === undefined) return;
    this.cameras.delete(camera);
    this.cameras.set(camera, { crowd, at: this.clock.now() });
    if (this.cameras.size > this.capacity) this.cameras.delete(this.cameras.keys().next().value as string);
  }
}
