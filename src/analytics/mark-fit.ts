/**
 * Fitting a camera from the people the user marked, not only from how many there are. A count per
 * frame is one number; twelve frames are twelve numbers, too few to choose a tiling and fit several
 * score weights without fitting the noise. Marks say which candidate boxes are people: every box is
 * a labelled example, a few hundred in twelve crowd frames. From them:
 * - the share of the marked people that some candidate finds (recall) chooses the tiling: a finer
 *   tiling costs 2–2.25× the model time, so it must find at least MIN_RECALL_GAIN more of them;
 * - per score bin, the share of candidates that are a marked person (precision) is that bin's
 *   weight, scaled by marked ÷ found people so that the people no candidate finds are counted too.
 * One free number (that scale) comes from the counts; the shape of the weights from every box.
 * Measured against the count-only fit in docs/analytics.md ("Tuning from the dashboard").
 */
import type { Detection } from '../core/messages.js';
import { binEdgesFrom } from './calibration.js';
import { binHistogram } from './counting.js';
import type { CameraProfile } from './people-counter.js';
import { type Tiling, tileCount } from './tiling.js';

/** One clicked person, [x, y] in image pixels. */
export type Mark = readonly [number, number];

export interface MarkedFrame {
  marks: readonly Mark[];
  /** Raw detections (frame pixels) per candidate tiling, same order as the tilings. */
  detections: ReadonlyArray<readonly Detection[]>;
}

/** A finer tiling must find this much more of the marked people to be worth its model time. */
export const MIN_RECALL_GAIN = 0.02;
/** Heads stick out above a body box by up to this share of its height. */
const ABOVE_BOX = 0.15;
/** Where in a box a head is expected: this share of its height below the top. */
const HEAD_DEPTH = 0.1;

/**
 * Which detections are a marked person: by descending score, each takes the free mark nearest to
 * its head point among those inside its box (or just above it). A click anywhere on a person is
 * inside their box; the head is preferred where boxes overlap in a crowd.
 */
export function matchMarks(detections: readonly Detection[], marks: readonly Mark[]): boolean[] {
  const taken = new Array<boolean>(marks.length).fill(false);
  const matched = new Array<boolean>(detections.length).fill(false);
  const order = detections.map((_, i) => i).sort((a, b) => (detections[b]?.score ?? 0) - (detections[a]?.score ?? 0));
  for (const i of order) {
    const [x1, y1, x2, y2] = (detections[i] as Detection).box;
    const height = y2 - y1;
    const headX = (x1 + x2) / 2;
    const headY = y1 + HEAD_DEPTH * height;
    let nearest = -1;
    let nearestDistance = Number.POSITIVE_INFINITY;
    marks.forEach(([x, y], m) => {
      if (taken[m] || x < x1 || x > x2 || y < y1 - ABOVE_BOX * height || y > y2) return;
      const distance = Math.abs(x - headX) + Math.abs(y - headY);
      if (distance < nearestDistance) {
        nearest = m;
        nearestDistance = distance;
      }
    });
    if (nearest >= 0) {
      taken[nearest] = true;
      matched[i] = true;
    }
  }
  return matched;
}

interface BinTally {
  /** Candidates per score bin. */
  candidates: number[];
  /** Of them, those that are a marked person. */
  people: number[];
  marks: number;
  found: number;
}

function tally(frames: readonly MarkedFrame[], tilingIndex: number, edges: readonly number[]): BinTally {
  const result: BinTally = { candidates: edges.map(() => 0), people: edges.map(() => 0), marks: 0, found: 0 };
  for (const frame of frames) {
    const detections = (frame.detections[tilingIndex] ?? []).filter((d) => d.score >= (edges[0] ?? 0));
    const matched = matchMarks(detections, frame.marks);
    const all = binHistogram(
      detections.map((d) => d.score),
      edges,
    );
    const people = binHistogram(
      detections.filter((_, i) => matched[i]).map((d) => d.score),
      edges,
    );
    all.forEach((n, b) => {
      result.candidates[b] = (result.candidates[b] ?? 0) + n;
      result.people[b] = (result.people[b] ?? 0) + (people[b] ?? 0);
    });
    result.marks += frame.marks.length;
    result.found += matched.filter(Boolean).length;
  }
  return result;
}

export interface MarkedFit {
  profile: CameraProfile;
  tilingIndex: number;
  /** Share of the marked people that some candidate of the chosen tiling found. */
  recall: number;
}

/**
 * The profile from marked frames: the tiling by recall (fewest tiles unless a finer one finds
 * MIN_RECALL_GAIN more), score-bin weights from precision × marked ÷ found. Undefined when the
 * chosen tiling finds no marked person (then the marks say nothing about its candidates).
 */
export function fitMarkedFrames(
  frames: readonly MarkedFrame[],
  tilings: readonly Tiling[],
  floor: number,
): MarkedFit | undefined {
  const edges = binEdgesFrom(floor);
  const byCost = tilings
    .map((tiling, index) => ({ tiling, index }))
    .sort((a, b) => tileCount(a.tiling) - tileCount(b.tiling));
  let chosen: { index: number; tiling: Tiling; tally: BinTally; recall: number } | undefined;
  for (const { tiling, index } of byCost) {
    const counts = tally(frames, index, edges);
    const recall = counts.marks > 0 ? counts.found / counts.marks : 0;
    if (!chosen || recall > chosen.recall + MIN_RECALL_GAIN) chosen = { index, tiling, tally: counts, recall };
  }
  if (!chosen || chosen.tally.found === 0) return undefined;
  const { tally: counts } = chosen;
  const unseen = counts.marks / counts.found;
  const weights = counts.candidates.map((n, b) =>
    n > 0 ? Math.round(((counts.people[b] ?? 0) / n) * unseen * 10_000) / 10_000 : 0,
  );
  return {
    profile: {
      scoreThreshold: floor,
      ...(tileCount(chosen.tiling) > 1 ? { tiling: chosen.tiling } : {}),
      counting: { mode: 'score-bins', edges, weights },
    },
    tilingIndex: chosen.index,
    recall: chosen.recall,
  };
}
