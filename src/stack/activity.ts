/**
 * What `up` prints between its banner and Ctrl-C, from engage's live events: a line for each event worth
 * a person's attention (a camera's first count since the start, an alert raised or cleared) and, at
 * most once a minute, how many new counts came in. Everything else is in the log file.
 */
import type { LiveEvent } from '../engage/events.js';

export const ACTIVITY_SUMMARY_MS = 60_000;

export class Activity {
  /** The latest photo time seen per device (null: none yet). */
  private readonly lastPhotoAt = new Map<string, number | null>();
  private readonly counted = new Set<string>();
  private newCounts = 0;
  private readonly camerasSinceSummary = new Set<string>();

  /**
   * @param startedAt unix seconds of the start: a device first seen with an older photo is history.
   * @param write prints one line.
   */
  constructor(
    private readonly startedAt: number,
    private readonly write: (line: string) => void,
  ) {}

  see(event: LiveEvent): void {
    if (event.type === 'device') {
      const { id, name, count, lastPhotoAt } = event.data;
      const known = this.lastPhotoAt.get(id);
      this.lastPhotoAt.set(id, lastPhotoAt);
      const fresh =
        lastPhotoAt !== null &&
        count !== null &&
        (known === undefined ? lastPhotoAt >= this.startedAt : known !== lastPhotoAt);
      if (!fresh) return;
      if (!this.counted.has(id)) {
        this.counted.add(id);
        this.write(`First count from camera ${name ?? id}: ${count} ${count === 1 ? 'person' : 'people'}`);
        return;
      }
      this.newCounts += 1;
      this.camerasSinceSummary.add(id);
    } else if (event.type === 'alert') {
      const { state, scope, target, count, raiseAt } = event.data;
      this.write(`Alert ${state}: ${scope} ${target} at ${count} (rule: ${raiseAt})`);
    }
  }

  /** One line on the counts since the last summary; nothing when there were none. */
  summarize(): void {
    if (this.newCounts === 0) return;
    const cameras = this.camerasSinceSummary.size;
    this.write(
      `${this.newCounts} new ${this.newCounts === 1 ? 'count' : 'counts'} from ${cameras} ${cameras === 1 ? 'camera' : 'cameras'} in the last minute`,
    );
    this.newCounts = 0;
    this.camerasSinceSummary.clear();
  }
}
