/** Tuning sessions and their frames in SQLite: which photos were kept, their labels and candidate boxes. */

import { z } from 'zod';
import { cameraProfileSchema } from '../../core/people-counter.js';
import { tuningCandidateSchema } from '../../core/tuning.js';
import { tuningSummarySchema } from '../profiles.js';
import { inTransaction, type SqlDatabase } from '../sqlite.js';

export const markSchema = z.tuple([z.number().min(0), z.number().min(0)]);

export const frameViewSchema = z.object({
  key: z.string(),
  source: z.enum(['camera', 'upload']),
  addedAt: z.number(),
  count: z.number().int().nullable().describe('the true count, once labelled'),
  marks: z.array(markSchema).nullable().describe('one [x, y] (image pixels) per person clicked'),
  candidates: z
    .array(tuningCandidateSchema)
    .nullable()
    .describe("the model's person candidates at a low score floor (null until looked at)"),
  problem: z.string().nullable().describe('why this frame is left out, e.g. it cannot be decoded'),
});
export type FrameView = z.infer<typeof frameViewSchema>;

export const fitStateSchema = z.object({
  state: z.enum(['running', 'done', 'failed', 'cancelled']),
  done: z.number().int(),
  total: z.number().int(),
  message: z.string().nullable(),
  result: tuningSummarySchema
    .extend({ profile: cameraProfileSchema, skipped: z.array(z.object({ id: z.string(), message: z.string() })) })
    .nullable(),
});
export type FitState = z.infer<typeof fitStateSchema>;

export interface SessionRow {
  id: string;
  deviceId: string;
  target: number;
  createdAt: number;
  expiresAt: number;
  collecting: boolean;
  fit: FitState | null;
}

interface RawSession {
  id: string;
  device_id: string;
  target: number;
  created_at: number;
  expires_at: number;
  collecting: number;
  fit: string | null;
}

interface RawFrame {
  key: string;
  source: FrameView['source'];
  added_at: number;
  count: number | null;
  marks: string | null;
  candidates: string | null;
  problem: string | null;
}

const session = (row: RawSession): SessionRow => ({
  id: row.id,
  deviceId: row.device_id,
  target: row.target,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  collecting: row.collecting === 1,
  fit: row.fit === null ? null : fitStateSchema.parse(JSON.parse(row.fit)),
});

const frame = (row: RawFrame): FrameView => ({
  key: row.key,
  source: row.source,
  addedAt: row.added_at,
  count: row.count,
  marks: row.marks === null ? null : z.array(markSchema).parse(JSON.parse(row.marks)),
  candidates: row.candidates === null ? null : z.array(tuningCandidateSchema).parse(JSON.parse(row.candidates)),
  problem: row.problem,
});

export class TuningSessions {
  constructor(private readonly db: SqlDatabase) {}

  create(row: Omit<SessionRow, 'fit' | 'collecting'>): void {
    this.db
      .prepare(
        'INSERT INTO tuning_sessions (id, device_id, target, created_at, expires_at, collecting) VALUES (?, ?, ?, ?, ?, 1)',
      )
      .run(row.id, row.deviceId, row.target, row.createdAt, row.expiresAt);
  }

  get(id: string): SessionRow | undefined {
    const row = this.db.prepare('SELECT * FROM tuning_sessions WHERE id = ?').get(id) as RawSession | undefined;
    return row && session(row);
  }

  forDevice(deviceId: string): SessionRow | undefined {
    const row = this.db.prepare('SELECT * FROM tuning_sessions WHERE device_id = ?').get(deviceId) as
      | RawSession
      | undefined;
    return row && session(row);
  }

  all(): SessionRow[] {
    return (this.db.prepare('SELECT * FROM tuning_sessions ORDER BY created_at').all() as RawSession[]).map(session);
  }

  setCollecting(id: string, collecting: boolean): void {
    this.db.prepare('UPDATE tuning_sessions SET collecting = ? WHERE id = ?').run(collecting ? 1 : 0, id);
  }

  setFit(id: string, fit: FitState | null): void {
    this.db.prepare('UPDATE tuning_sessions SET fit = ? WHERE id = ?').run(fit && JSON.stringify(fit), id);
  }

  delete(id: string): void {
    inTransaction(this.db, () => {
      this.db.prepare('DELETE FROM tuning_frames WHERE session_id = ?').run(id);
      this.db.prepare('DELETE FROM tuning_sessions WHERE id = ?').run(id);
    });
  }

  /** False when the frame was already there. */
  addFrame(sessionId: string, key: string, source: FrameView['source'], addedAt: number): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO tuning_frames (session_id, key, source, added_at) VALUES (?, ?, ?, ?)')
        .run(sessionId, key, source, addedAt).changes > 0
    );
  }

  frames(sessionId: string): FrameView[] {
    return (
      this.db
        .prepare('SELECT * FROM tuning_frames WHERE session_id = ? ORDER BY added_at, key')
        .all(sessionId) as RawFrame[]
    ).map(frame);
  }

  frame(sessionId: string, key: string): FrameView | undefined {
    const row = this.db.prepare('SELECT * FROM tuning_frames WHERE session_id = ? AND key = ?').get(sessionId, key) as
      | RawFrame
      | undefined;
    return row && frame(row);
  }

  label(sessionId: string, key: string, count: number, marks: FrameView['marks']): void {
    this.db
      .prepare('UPDATE tuning_frames SET count = ?, marks = ? WHERE session_id = ? AND key = ?')
      .run(count, marks && JSON.stringify(marks), sessionId, key);
  }

  inspected(
    sessionId: string,
    key: string,
    outcome: { candidates: FrameView['candidates']; problem: string | null },
  ): void {
    this.db
      .prepare('UPDATE tuning_frames SET candidates = ?, problem = ? WHERE session_id = ? AND key = ?')
      .run(outcome.candidates && JSON.stringify(outcome.candidates), outcome.problem, sessionId, key);
  }
}
