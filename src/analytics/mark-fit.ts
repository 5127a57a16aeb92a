/**
 * Fitting a camera from the people the user marked, not only from how many there are. A count per
 * frame is one number; twelve frames are twelve numbers, too few to choose a tiling and fit several
 * score weights without fitting the noise. Marks say which candidate boxes are people: every box is
 * a labelled example, a few hundred in twelve crowd frames. From them:
 * - the share of the marked people that some candidate finds (recall) chooses how to count: a
 *   candidate tiling alone or, like `calibrate`'s two scales, a tiling plus the whole-frame pass,
 *   which finds the people too large for its tiles. A costlier option (a finer tiling costs 2–2.25×
 *   the model time) must find at least MIN_RECALL_GAIN more of them;
 * - per score bin, the share of candidates that are a marked person (precision) is that bin's
 *   weight, scaled by marked ÷ found people so that the people no candidate finds are counted too.
 *   The whole-frame pass's bins count only the people its tiles missed, so nobody is counted twice.
 * One free number (that scale) comes from the counts; the shape of the weights from every box.
 * Measured against the count-only fit in docs/analytics.md ("Tuning from the dashboard").
 */
import type { Detection } from '../core/messages.js';
import type { CameraProfile } from '../core/people-counter.js';
import type { Mark } from '../core/tuning.js';
import { binEdgesFrom } from './calibration.js';
import { binHistogram } from './counting.js';
import { type Tiling, tileCount, wholeFrameIndexOf } from './tiling.js';

export type { Mark };

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
 * inside their box; the head is preferred where boxes overlap in a crowd. Marks already `taken` (by
 * another pass over the same frame) are skipped, and those matched here are added to it.
 */
export function matchMarks(
  detections: readonly Detection[],
  marks: readonly Mark[],
  taken: boolean[] = new Array<boolean>(marks.length).fill(false),
): boolean[] {
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
}

interface OptionTally {
  tiles: BinTally;
  /** The whole-frame pass: its people are those the tiles did not find. */
  wholeFrame?: BinTally;
  marks: number;
  found: number;
}

/** A way to count: a candidate tiling, alone or with the whole-frame pass as a second scale (as in `calibrate`). */
interface CountingOption {
  tilingIndex: number;
  tiling: Tiling;
  wholeFrame: boolean;
  /** Model runs per photo. */
  cost: number;
}

function emptyTally(edges: readonly number[]): BinTally {
  return { candidates: edges.map(() => 0), people: edges.map(() => 0) };
}

/** Adds these detections, of which `matched` are marked people, to the tally's bins. */
function addTo(
  tally: BinTally,
  detections: readonly Detection[],
  matched: readonly boolean[],
  edges: readonly number[],
) {
  const all = binHistogram(
    detections.map((d) => d.score),
    edges,
  );
  const people = binHistogram(
    detections.filter((_, i) => matched[i]).map((d) => d.score),
    edges,
  );
  all.forEach((n, b) => {
    tally.candidates[b] = (tally.candidates[b] ?? 0) + n;
    tally.people[b] = (tally.people[b] ?? 0) + (people[b] ?? 0);
  });
}

function tallyOption(
  frames: readonly MarkedFrame[],
  option: CountingOption,
  wholeFrameIndex: number,
  edges: readonly number[],
): OptionTally {
  const floor = edges[0] ?? 0;
  const kept = (index: number, frame: MarkedFrame) => (frame.detections[index] ?? []).filter((d) => d.score >= floor);
  const result: OptionTally = {
    tiles: emptyTally(edges),
    ...(option.wholeFrame ? { wholeFrame: emptyTally(edges) } : {}),
    marks: 0,
    found: 0,
  };
  for (const frame of frames) {
    const taken = new Array<boolean>(frame.marks.length).fill(false);
    const tiles = kept(option.tilingIndex, frame);
    const matched = matchMarks(tiles, frame.marks, taken);
    addTo(result.tiles, tiles, matched, edges);
    result.found += matched.filter(Boolean).length;
    if (result.wholeFrame) {
      // The whole frame's people are only those the tiles missed: what this scale adds.
      const whole = kept(wholeFrameIndex, frame);
      const matchedWhole = matchMarks(whole, frame.marks, taken);
      addTo(result.wholeFrame, whole, matchedWhole, edges);
      result.found += matchedWhole.filter(Boolean).length;
    }
    result.marks += frame.marks.length;
  }
  return result;
}

export interface MarkedFit {
  profile: CameraProfile;
  tilingIndex: number;
  /** The candidate whose detections the profile counts as its whole-frame pass (`wholeFrameWeights`), if any. */
  wholeFrameIndex: number | undefined;
  /** Share of the marked people that some candidate of the chosen option found. */
  recall: number;
}

/** Every candidate tiling, and every multi-tile one also with the whole frame when that is a candidate. */
function countingOptions(tilings: readonly Tiling[]): { options: CountingOption[]; wholeFrameIndex: number } {
  const wholeFrameIndex = wholeFrameIndexOf(tilings);
  const options = tilings.flatMap((tiling, tilingIndex) => {
    const tiles = tileCount(tiling);
    const alone = { tilingIndex, tiling, wholeFrame: false, cost: tiles };
    return tiles > 1 && wholeFrameIndex >= 0 ? [alone, { ...alone, wholeFrame: true, cost: tiles + 1 }] : [alone];
  });
  return { options: options.sort((a, b) => a.cost - b.cost), wholeFrameIndex };
}

/**
 * The profile from marked frames: the counting option by recall (the cheapest unless a costlier one
 * finds MIN_RECALL_GAIN more), score-bin weights from precision × marked ÷ found. Undefined when the
 * chosen option finds no marked person (then the marks say nothing about its candidates).
 */
export function fitMarkedFrames(
  frames: readonly MarkedFrame[],
  tilings: readonly Tiling[],
  floor: number,
): MarkedFit | undefined {
  const edges = binEdgesFrom(floor);
  const { options, wholeFrameIndex } = countingOptions(tilings);
  let chosen: { option: CountingOption; tally: OptionTally; recall: number } | undefined;
  for (const option of options) {
    const tally = tallyOption(frames, option, wholeFrameIndex, edges);
    const recall = tally.marks > 0 ? tally.found / tally.marks : 0;
    if (!chosen || recall > chosen.recall + MIN_RECALL_GAIN) chosen = { option, tally, recall };
  }
  if (!chosen || chosen.tally.found === 0) return undefined;
  const { option, tally } = chosen;
  const unseen = tally.marks / tally.found;
  const weightsOf = (bins: BinTally) =>
    bins.candidates.map((n, b) => (n > 0 ? Math.round(((bins.people[b] ?? 0) / n) * unseen * 10_000) / 10_000 : 0));
  return {
    profile: {
      scoreThreshold: floor,
      ...(tileCount(option.tiling) > 1 ? { tiling: option.tiling } : {}),
      counting: {
        mode: 'score-bins',
        edges,
        weights: weightsOf(tally.tiles),
        ...(tally.wholeFrame ? { wholeFrameWeights: weightsOf(tally.wholeFrame) } : {}),
      },
    },
    tilingIndex: option.tilingIndex,
    wholeFrameIndex: option.wholeFrame ? wholeFrameIndex : undefined,
    recall: chosen.recall,
  };
}
