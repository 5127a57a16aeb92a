/**
 * Camera profiles as live state: every change is a new revision in SQLite (the history), and the
 * current one is published retained on `<prefix>/devices/<id>/profile` for the inference instances
 * (an empty retained message when it was removed). Revert restores the revision before the current one.
 */

import { z } from 'zod';
import {
  PROFILE_MESSAGE_VERSION,
  type ProfileMessage,
  profileHash,
  profileMessageSchema,
} from '../core/live-profile.js';
import { type CameraProfile, cameraProfileSchema } from '../core/people-counter.js';
import type { Topics } from '../core/topics.js';
import type { SqlDatabase } from './sqlite.js';

/** What a fit measured, kept with a profile that tuning produced (the tile's "tuned" badge). */
export const tuningSummarySchema = z.object({
  frames: z.number().int().positive(),
  maeBefore: z.number().nullable().describe('current profile on the labelled frames, people per frame'),
  maeAfter: z.number().describe('the new profile, cross-validated on the labelled frames, people per frame'),
  counter: z
    .enum(['detector', 'density'])
    .optional()
    .describe(
      "what the profile tunes: the detector's settings or the density network's scale; absent before 2026-12-05",
    ),
  method: z
    .enum(['marks', 'counts'])
    .optional()
    .describe('fitted on the marked people (every frame marked) or on the counts alone; absent before 2026-11-30'),
  passes: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('model runs per photo under the new profile (tiles, + the whole frame); absent before 2026-11-30 12:00'),
  tiling: z.string().optional().describe("the new profile's tiling, ROWSxCOLS@OVERLAP"),
  wholeFrame: z.boolean().optional().describe('whether the new profile also counts a whole-frame pass'),
});
export type TuningSummary = z.infer<typeof tuningSummarySchema>;

export const profileSourceSchema = z.enum(['api', 'tuning', 'revert']);

export const profileRevisionSchema = z.object({
  deviceId: z.string(),
  revision: z.number().int(),
  /** null: the profile was removed at this revision (the defaults apply). */
  profile: cameraProfileSchema.nullable(),
  hash: z.string().nullable().describe('what results counted with this profile carry in `profile`'),
  source: profileSourceSchema,
  tuning: tuningSummarySchema.nullable(),
  createdAt: z.number(),
});
export type ProfileRevision = z.infer<typeof profileRevisionSchema>;

type Row = {
  device_id: string;
  revision: number;
  body: string | null;
  hash: string | null;
  source: z.infer<typeof profileSourceSchema>;
  tuning: string | null;
  created_at: number;
};

const fromRow = (row: Row): ProfileRevision => ({
  deviceId: row.device_id,
  revision: row.revision,
  profile: row.body === null ? null : cameraProfileSchema.parse(JSON.parse(row.body)),
  hash: row.hash,
  source: row.source,
  tuning: row.tuning === null ? null : tuningSummarySchema.parse(JSON.parse(row.tuning)),
  createdAt: row.created_at,
});

export type PublishRetained = (topic: string, payload: string) => Promise<void>;

export class ProfileBook {
  constructor(
    private readonly db: SqlDatabase,
    private readonly topics: Topics,
    private readonly publishRetained: PublishRetained,
    private readonly nowSeconds: () => number,
  ) {}

  /** The current revision; undefined when the device never had a profile. */
  latest(deviceId: string): ProfileRevision | undefined {
    const row = this.db
      .prepare('SELECT * FROM profiles WHERE device_id = ? ORDER BY revision DESC LIMIT 1')
      .get(deviceId) as Row | undefined;
    return row && fromRow(row);
  }

  /** The current profile, when the device has one. */
  current(deviceId: string): (ProfileRevision & { profile: CameraProfile; hash: string }) | undefined {
    const latest = this.latest(deviceId);
    return latest?.profile && latest.hash ? { ...latest, profile: latest.profile, hash: latest.hash } : undefined;
  }

  /** Every device's current profile (removed ones left out). */
  all(): ProfileRevision[] {
    return this.latestRevisions().filter((revision) => revision.profile !== null);
  }

  history(deviceId: string): ProfileRevision[] {
    const rows = this.db
      .prepare('SELECT * FROM profiles WHERE device_id = ? ORDER BY revision DESC')
      .all(deviceId) as Row[];
    return rows.map(fromRow);
  }

  async put(
    deviceId: string,
    profile: CameraProfile,
    source: ProfileRevision['source'],
    tuning?: TuningSummary,
  ): Promise<ProfileRevision> {
    const revision = this.append(deviceId, profile, source, tuning ?? null);
    await this.publish(revision);
    return revision;
  }

  /** Removes the device's profile (a revision without one); false when it had none. */
  async remove(deviceId: string): Promise<boolean> {
    if (!this.current(deviceId)) return false;
    await this.publish(this.append(deviceId, null, 'api', null));
    return true;
  }

  /** Restores the revision before the current one; undefined when there is none. */
  async revert(deviceId: string): Promise<ProfileRevision | undefined> {
    const [, previous] = this.history(deviceId);
    if (!previous) return undefined;
    const revision = this.append(deviceId, previous.profile, 'revert', previous.tuning);
    await this.publish(revision);
    return revision;
  }

  /** Publishes every device's current state again (the broker may have lost retained messages). */
  async republish(): Promise<void> {
    for (const revision of this.latestRevisions()) await this.publish(revision);
  }

  /** Every device's latest revision, removals included. */
  private latestRevisions(): ProfileRevision[] {
    const rows = this.db
      .prepare(
        `SELECT p.* FROM profiles p
         JOIN (SELECT device_id, MAX(revision) AS revision FROM profiles GROUP BY device_id) l
           ON l.device_id = p.device_id AND l.revision = p.revision
         ORDER BY p.device_id`,
      )
      .all() as Row[];
    return rows.map(fromRow);
  }

  private append(
    deviceId: string,
    profile: CameraProfile | null,
    source: ProfileRevision['source'],
    tuning: TuningSummary | null,
  ): ProfileRevision {
    const revision = (this.latest(deviceId)?.revision ?? 0) + 1;
    const row: Row = {
      device_id: deviceId,
      revision,
      body: profile && JSON.stringify(profile),
      hash: profile && profileHash(profile),
      source,
      tuning: tuning && JSON.stringify(tuning),
      created_at: this.nowSeconds(),
    };
    this.db
      .prepare(
        'INSERT INTO profiles (device_id, revision, body, hash, source, tuning, created_at) VALUES (@device_id, @revision, @body, @hash, @source, @tuning, @created_at)',
      )
      .run(row);
    return fromRow(row);
  }

  private publish(revision: ProfileRevision): Promise<void> {
    const topic = this.topics.deviceProfile(revision.deviceId);
    if (!revision.profile || !revision.hash) return this.publishRetained(topic, '');
    const message: ProfileMessage = profileMessageSchema.parse({
      type: 'profile',
      version: PROFILE_MESSAGE_VERSION,
      deviceID: revision.deviceId,
      revision: revision.revision,
      hash: revision.hash,
      profile: revision.profile,
      updatedAt: revision.createdAt,
    });
    return this.publishRetained(topic, JSON.stringify(message));
  }
}
