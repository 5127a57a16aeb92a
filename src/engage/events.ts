/** The live events engage pushes to dashboards (Server-Sent Events) and that its modules exchange. */
import type { AlertMessage } from '../core/messages.js';
import type { RuleView } from './engine.js';
import type { DeviceView, SiteOccupancy } from './occupancy.js';
import type { DeviceTuningStatus, SessionView } from './tuning/desk.js';

export type LiveEvent =
  | { type: 'device'; data: DeviceView }
  | { type: 'site'; data: SiteOccupancy }
  | { type: 'site-removed'; data: { site: string } }
  | { type: 'alert'; data: AlertMessage }
  | { type: 'rules'; data: RuleView[] }
  | { type: 'tuning'; data: DeviceTuningStatus & { session: SessionView | null } };

export type LiveListener = (event: LiveEvent) => void;

export class LiveEvents {
  private readonly listeners = new Set<LiveListener>();

  subscribe(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: LiveEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  get size(): number {
    return this.listeners.size;
  }
}
