/**
 * The model of `up`, loaded after everything else has started so that the dashboard's URL comes first:
 * a photo that arrives while it loads waits for it (it is not dropped), and fails with the load's error
 * if the model cannot load.
 */
import type { CameraProfile, CountResult, PeopleCounter } from '../core/people-counter.js';

export class LateModel implements PeopleCounter {
  private loaded: PeopleCounter | undefined;

  constructor(readonly ready: Promise<PeopleCounter>) {
    ready.then(
      (counter) => {
        this.loaded = counter;
      },
      // Whoever waits for `ready`, or counts, is told; nothing is left unhandled here.
      () => undefined,
    );
  }

  get model(): string {
    return this.loaded?.model ?? 'loading';
  }

  async count(jpeg: Buffer, profile?: CameraProfile, camera?: string): Promise<CountResult> {
    return (await this.ready).count(jpeg, profile, camera);
  }

  async close(): Promise<void> {
    const counter = await this.ready.catch(() => undefined);
    await counter?.close();
  }
}
