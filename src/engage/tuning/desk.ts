/**
 * The "Tune counting" flow behind the dashboard and the REST API: collect a camera's next photos (or
 * uploads) into TUNING_BUCKET, show them with the model's candidate boxes for labelling, fit a profile
 * in the background (progress as live events, cancellable), apply it through the profile book. Every
 * kept photo is deleted on apply, cancel or expiry; the sweeper also deletes copies that arrive for a
 * session that has ended (a photo in flight while it ended).
 */
import { randomUUID } from 'node:crypto';
import { HttpError } from '../../core/http.js';
import { parseFilePath } from '../../core/ids.js';
import { looksLikeJpeg } from '../../core/image.js';
import { type CollectMessage, PROFILE_MESSAGE_VERSION, TUNING_BUCKET, tuningKey } from '../../core/live-profile.js';
import type { Logger } from '../../core/log.js';
import type { ResultMessage } from '../../core/messages.js';
import { type Tiling, UnusableImageError } from '../../core/people-counter.js';
import { ObjectNotFoundError, type ObjectStore } from '../../core/storage/index.js';
import type { Topics } from '../../core/topics.js';
import {
  MIN_TUNING_FRAMES,
  TuningCancelledError,
  type TuningFitReport,
  TuningInputError,
  type TuningModel,
} from '../../core/tuning.js';
import type { DeviceTuningStatus, LiveEvents, SessionView } from '../events.js';
import type { ProfileBook, ProfileRevision, PublishRetained } from '../profiles.js';
import type { FitState, FrameView, SessionRow, TuningSessions } from './sessions.js';

export const DEFAULT_TUNING_FRAMES = 12;
export const MAX_TUNING_FRAMES = 50;

/** The live-event shapes are declared in ../events.js; the dashboard's JSDoc imports this one from here. */

export interface TuningDeskDeps {
  sessions: TuningSessions;
  profiles: ProfileBook;
  store: ObjectStore;
  /** The model for candidate boxes and fits; undefined when this engage cannot run one. */
  model: (() => Promise<TuningModel>) | undefined;
  topics: Topics;
  publishRetained: PublishRetained;
  events: LiveEvents;
  logger: Logger;
  nowSeconds: () => number;
  retentionSeconds: number;
  /** Candidate tilings of the fit (default: calibrate's). */
  tilings?: readonly Tiling[];
}

/** The session's prefix in TUNING_BUCKET (see tuningKey). */
const sessionPrefix = (sessionId: string) => tuningKey(sessionId, '');

export class TuningDesk {
  /** What the latest result of each camera said about how it was counted. */
  private readonly looks = new Map<string, Pick<DeviceTuningStatus, 'hints' | 'heatMap'>>();
  private readonly fits = new Map<string, AbortController>();
  private readonly inspections = new Set<Promise<void>>();
  /** Results are taken in one at a time: counting kept frames must not race. */
  private results: Promise<void> = Promise.resolve();

  constructor(private readonly deps: TuningDeskDeps) {}

  status(deviceIds: readonly string[]): DeviceTuningStatus[] {
    const ids = new Set([...deviceIds, ...this.looks.keys(), ...this.deps.profiles.all().map((p) => p.deviceId)]);
    return [...ids].sort().map((deviceId) => this.statusOf(deviceId));
  }

  statusOf(deviceId: string): DeviceTuningStatus {
    const current = this.deps.profiles.current(deviceId);
    return {
      deviceId,
      sessionId: this.deps.sessions.forDevice(deviceId)?.id ?? null,
      hints: this.looks.get(deviceId)?.hints ?? [],
      heatMap: this.looks.get(deviceId)?.heatMap ?? null,
      profile: current
        ? { revision: current.revision, hash: current.hash, source: current.source, tuning: current.tuning }
        : null,
    };
  }

  async start(deviceId: string, target: number): Promise<SessionView> {
    const existing = this.deps.sessions.forDevice(deviceId);
    if (existing)
      throw new HttpError(409, 'tuning-in-progress', `camera ${deviceId} already has tuning session ${existing.id}`);
    const now = this.deps.nowSeconds();
    const id = randomUUID();
    const expiresAt = now + this.deps.retentionSeconds;
    this.deps.sessions.create({ id, deviceId, target, createdAt: now, expiresAt });
    const session = this.require(id);
    if (target > 0) await this.publishCollect(session);
    else this.deps.sessions.setCollecting(id, false);
    this.changed(deviceId);
    return this.view(id);
  }

  view(id: string): SessionView {
    const session = this.require(id);
    const frames = this.deps.sessions.frames(id);
    return {
      id,
      deviceId: session.deviceId,
      target: session.target,
      collecting: session.collecting,
      createdAt: session.createdAt,
      expiresAt: session.expiresAt,
      frames,
      labelled: frames.filter((f) => f.count !== null && f.problem === null).length,
      fit: session.fit,
    };
  }

  /** Takes in a counted photo: its hints and heat map, and its copy when the camera is collecting. One at a time, in order. */
  onResult(result: ResultMessage): Promise<void> {
    const taken = this.results.then(() => this.takeResult(result));
    this.results = taken.catch(() => undefined);
    return taken;
  }

  private async takeResult(result: ResultMessage): Promise<void> {
    const look = { hints: result.hints ?? [], heatMap: result.heatMap ?? null };
    const before = this.looks.get(result.deviceID);
    this.looks.set(result.deviceID, look);
    const session = this.deps.sessions.forDevice(result.deviceID);
    const parsed = parseFilePath(result.filePath);
    if (session && !('problem' in parsed)) {
      const key = tuningKey(session.id, parsed.key);
      if (await this.deps.store.exists(TUNING_BUCKET, key).catch(() => false)) {
        const cameraFrames = this.deps.sessions.frames(session.id).filter((f) => f.source === 'camera').length;
        if (session.collecting && cameraFrames < session.target) {
          this.addFrame(session.id, key, 'camera');
          if (cameraFrames + 1 >= session.target) await this.stopCollecting(session);
        } else {
          // In flight while the collection stopped: not wanted.
          await this.deps.store.delete(TUNING_BUCKET, key).catch(() => undefined);
        }
        this.changed(result.deviceID);
        return;
      }
    }
    if (look.heatMap !== null || look.hints.join() !== before?.hints.join() || before.heatMap !== null)
      this.changed(result.deviceID);
  }

  async upload(id: string, jpeg: Buffer): Promise<FrameView> {
    const session = this.require(id);
    if (!looksLikeJpeg(jpeg)) throw new HttpError(400, 'not-jpeg', 'send a JPEG (Content-Type: image/jpeg)');
    if (this.deps.sessions.frames(id).length >= MAX_TUNING_FRAMES)
      throw new HttpError(409, 'too-many-frames', `a tuning session holds at most ${MAX_TUNING_FRAMES} frames`);
    const key = tuningKey(id, `upload-${randomUUID()}.jpg`);
    await this.deps.store.put(TUNING_BUCKET, key, jpeg, { deviceid: session.deviceId, session: id });
    this.addFrame(id, key, 'upload');
    this.changed(session.deviceId);
    return this.requireFrame(id, key);
  }

  async image(id: string, key: string): Promise<Buffer> {
    this.requireFrame(id, key);
    try {
      return (await this.deps.store.get(TUNING_BUCKET, key)).body;
    } catch (error) {
      if (error instanceof ObjectNotFoundError) throw new HttpError(404, 'unknown-frame', `frame ${key} is gone`);
      throw error;
    }
  }

  label(id: string, key: string, count: number, marks: FrameView['marks']): FrameView {
    const session = this.require(id);
    this.requireFrame(id, key);
    if (marks && marks.length !== count)
      throw new HttpError(
        400,
        'invalid-label',
        `count ${count} but ${marks.length} people marked; send one mark per person`,
      );
    this.deps.sessions.label(id, key, count, marks);
    this.changed(session.deviceId);
    return this.requireFrame(id, key);
  }

  /** Starts the fit in the background; its progress arrives as live events and in the session view. */
  async startFit(id: string): Promise<SessionView> {
    const session = this.require(id);
    if (this.fits.has(id))
      throw new HttpError(409, 'fit-in-progress', `a fit for camera ${session.deviceId} is already running`);
    const labelled = this.deps.sessions.frames(id).filter((f) => f.count !== null && f.problem === null);
    if (labelled.length < MIN_TUNING_FRAMES)
      throw new HttpError(
        400,
        'too-few-labels',
        `fitting needs at least ${MIN_TUNING_FRAMES} labelled frames; ${labelled.length} ${labelled.length === 1 ? 'is' : 'are'} labelled`,
      );
    if (!this.deps.model)
      throw new HttpError(503, 'no-model', 'this engage runs no model; start it with the local model to fit profiles');
    const makeModel = this.deps.model;
    const controller = new AbortController();
    this.fits.set(id, controller);
    this.setFit(session, { state: 'running', done: 0, total: 0, message: null, result: null });
    void this.runFit(session, labelled, makeModel, controller.signal).finally(() => this.fits.delete(id));
    return this.view(id);
  }

  cancelFit(id: string): SessionView {
    const session = this.require(id);
    const fit = this.fits.get(id);
    if (!fit) throw new HttpError(409, 'no-fit-running', `no fit is running for camera ${session.deviceId}`);
    fit.abort();
    return this.view(id);
  }

  /** Publishes the fitted profile and ends the session (its photos are deleted). */
  async apply(id: string): Promise<ProfileRevision> {
    const session = this.require(id);
    const result = session.fit?.state === 'done' ? session.fit.result : null;
    if (!result) throw new HttpError(409, 'not-fitted', 'fit a profile first (POST …/fit) and wait until it is done');
    const { profile, skipped: _skipped, ...summary } = result;
    const revision = await this.deps.profiles.put(session.deviceId, profile, 'tuning', summary);
    await this.discard(session);
    return revision;
  }

  /** Ends a session without applying anything; its photos are deleted. */
  async cancel(id: string): Promise<void> {
    await this.discard(this.require(id));
  }

  /** Ends expired sessions and deletes kept photos that belong to no session. */
  async sweep(): Promise<{ expired: number; orphans: number }> {
    const now = this.deps.nowSeconds();
    const expired = this.deps.sessions.all().filter((s) => s.expiresAt <= now);
    for (const session of expired) await this.discard(session);
    const live = this.deps.sessions.all().map((s) => sessionPrefix(s.id));
    let orphans = 0;
    for (const object of await this.deps.store.list(TUNING_BUCKET)) {
      if (live.some((prefix) => object.key.startsWith(prefix))) continue;
      await this.deps.store.delete(TUNING_BUCKET, object.key);
      orphans++;
    }
    if (expired.length + orphans > 0) this.deps.logger.info({ expired: expired.length, orphans }, 'tuning sweep');
    return { expired: expired.length, orphans };
  }

  /** Publishes the collect requests of collecting sessions again (after the broker lost retained state). */
  async republish(): Promise<void> {
    for (const session of this.deps.sessions.all()) if (session.collecting) await this.publishCollect(session);
  }

  /** Stops running fits and waits for candidate lookups (at shutdown). */
  async stop(): Promise<void> {
    for (const fit of this.fits.values()) fit.abort();
    await Promise.allSettled([...this.inspections]);
  }

  private async runFit(
    session: SessionRow,
    labelled: FrameView[],
    makeModel: () => Promise<TuningModel>,
    signal: AbortSignal,
  ): Promise<void> {
    let lastEmitted = 0;
    try {
      const frames = await Promise.all(
        labelled.map(async (f) => ({
          id: f.key,
          jpeg: (await this.deps.store.get(TUNING_BUCKET, f.key)).body,
          truth: f.count ?? 0,
          marks: f.marks,
        })),
      );
      const report = await (await makeModel()).fit(frames, {
        current: this.deps.profiles.current(session.deviceId)?.profile,
        ...(this.deps.tilings ? { tilings: this.deps.tilings } : {}),
        signal,
        onProgress: (done, total) => {
          // Every pass is a row update; dashboards need a few per second at most.
          const now = Date.now();
          if (now - lastEmitted < 250 && done < total) return;
          lastEmitted = now;
          this.setFit(session, { state: 'running', done, total, message: null, result: null });
        },
      });
      const from =
        report.counter === 'density'
          ? `the crowd-density count scaled ×${report.profile.density?.scale ?? 1}, fitted on the counts`
          : report.method === 'marks'
            ? 'fitted on the marked people'
            : 'fitted on the counts (mark every frame for a better fit)';
      const summary = `${report.frames} frames, ${from}: ${report.maeBefore.toFixed(1)} → ${report.maeAfter.toFixed(1)} people per frame (cross-validated); ${runsPerPhoto(report)}`;
      this.setFit(session, {
        state: 'done',
        done: 1,
        total: 1,
        message: [summary, ...report.skipped.map((s) => `${s.id}: ${s.message}`)].join('; '),
        result: { ...report, profile: report.profile },
      });
    } catch (error) {
      const cancelled = error instanceof TuningCancelledError;
      if (!cancelled && !(error instanceof TuningInputError))
        this.deps.logger.error({ err: error, session: session.id }, 'tuning fit failed');
      if (!this.deps.sessions.get(session.id)) return; // discarded meanwhile
      this.setFit(session, {
        state: cancelled ? 'cancelled' : 'failed',
        done: 0,
        total: 0,
        message: (error as Error).message,
        result: null,
      });
    }
  }

  private setFit(session: SessionRow, fit: FitState): void {
    this.deps.sessions.setFit(session.id, fit);
    this.changed(session.deviceId);
  }

  private addFrame(sessionId: string, key: string, source: FrameView['source']): void {
    if (!this.deps.sessions.addFrame(sessionId, key, source, this.deps.nowSeconds())) return;
    const inspection = this.inspect(sessionId, key).finally(() => this.inspections.delete(inspection));
    this.inspections.add(inspection);
  }

  /** The model's candidates at a low floor, for labelling; a photo that cannot be decoded is marked so. */
  private async inspect(sessionId: string, key: string): Promise<void> {
    if (!this.deps.model) return;
    let outcome: { candidates: FrameView['candidates']; problem: string | null };
    try {
      const jpeg = (await this.deps.store.get(TUNING_BUCKET, key)).body;
      const model = await this.deps.model();
      outcome = { candidates: await model.candidates(jpeg), problem: null };
    } catch (error) {
      if (!(error instanceof UnusableImageError)) {
        this.deps.logger.warn({ err: error, key }, 'could not look for candidates in a tuning frame');
        return;
      }
      outcome = { candidates: null, problem: `left out: the photo cannot be decoded (${error.message})` };
    }
    const session = this.deps.sessions.get(sessionId);
    if (!session) return;
    this.deps.sessions.inspected(sessionId, key, outcome);
    this.changed(session.deviceId);
  }

  private publishCollect(session: SessionRow): Promise<void> {
    const request: CollectMessage = {
      type: 'collect',
      version: PROFILE_MESSAGE_VERSION,
      deviceID: session.deviceId,
      sessionId: session.id,
      until: session.expiresAt,
    };
    return this.deps.publishRetained(this.deps.topics.deviceCollect(session.deviceId), JSON.stringify(request));
  }

  private async stopCollecting(session: SessionRow): Promise<void> {
    this.deps.sessions.setCollecting(session.id, false);
    await this.deps.publishRetained(this.deps.topics.deviceCollect(session.deviceId), '');
  }

  private async discard(session: SessionRow): Promise<void> {
    this.fits.get(session.id)?.abort();
    if (session.collecting) await this.stopCollecting(session);
    this.deps.sessions.delete(session.id);
    for (const object of await this.deps.store.list(TUNING_BUCKET, sessionPrefix(session.id)))
      await this.deps.store.delete(TUNING_BUCKET, object.key);
    this.changed(session.deviceId);
  }

  private changed(deviceId: string): void {
    const session = this.deps.sessions.forDevice(deviceId);
    this.deps.events.emit({
      type: 'tuning',
      data: { ...this.statusOf(deviceId), session: session ? this.view(session.id) : null },
    });
  }

  private require(id: string): SessionRow {
    const session = this.deps.sessions.get(id);
    if (!session)
      throw new HttpError(404, 'unknown-session', `no tuning session "${id}" (applied, cancelled or expired?)`);
    return session;
  }

  private requireFrame(id: string, key: string): FrameView {
    const frame = this.deps.sessions.frame(id, key);
    if (!frame) throw new HttpError(404, 'unknown-frame', `no frame "${key}" in tuning session ${id}`);
    return frame;
  }
}

/** What the new profile costs every photo of the camera, in the words the dashboard shows. */
function runsPerPhoto({
  counter,
  passes,
  tiling,
  wholeFrame,
}: Pick<TuningFitReport, 'counter' | 'passes' | 'tiling' | 'wholeFrame'>): string {
  const runs = `${passes} model run${passes === 1 ? '' : 's'} per photo`;
  if (counter === 'density') return `${runs} (${passes > 1 ? 'the whole frame, then ' : ''}the density network)`;
  return `${runs} (tiling ${tiling}${wholeFrame ? ' + whole frame' : ''})`;
}
