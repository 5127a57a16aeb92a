/**
 * The live events engage pushes to dashboards (Server-Sent Events) and that its modules exchange,
 * with the shapes they carry. Imports data shapes only, never the engine or the tuning desk that emit them.
 */
import type { AlertMessage, HeatMap } from '../core/messages.js';
import type { AlertRule, RuleState } from './alerts.js';
import type { DeviceView, SiteOccupancy } from './occupancy.js';
import type { ProfileRevision } from './profiles.js';
import type { ZoneState } from './store.js';
import type { FitState, FrameView } from './tuning/sessions.js';

/** An alert rule with its live state, as the engine reports it. */
export type RuleView = AlertRule & RuleState;

export interface SessionView {
  id: string;
  deviceId: string;
  target: number;
  collecting: boolean;
  createdAt: number;
  expiresAt: number;
  frames: FrameView[];
  labelled: number;
  fit: FitState | null;
}

/** What the dashboard shows on a camera's tile. */
export interface DeviceTuningStatus {
  deviceId: string;
  sessionId: string | null;
  hints: string[];
  /** The latest result's heat map when the crowd-density network counted it: the tile shows it. */
  heatMap: HeatMap | null;
  profile: Pick<ProfileRevision, 'revision' | 'hash' | 'source' | 'tuning'> | null;
}

export type LiveEvent =
  | { type: 'device'; data: DeviceView }
  | { type: 'site'; data: SiteOccupancy }
  | { type: 'site-removed'; data: { site: string } }
  | { type: 'alert'; data: AlertMessage }
  | { type: 'rules'; data: RuleView[] }
  | { type: 'zones'; data: { deviceId: string; zones: ZoneState[] } }
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
