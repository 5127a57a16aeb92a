/**
 * A person-only CenterNet head for the ONNX pass. The shipped graph scores all 80 COCO classes on a
 * 128×128 grid and then finds peaks and the top 100 of them inside the graph: a sigmoid, a 3×3 max-pool,
 * a compare and a transpose over 1.3 M values per pass, ≈ 20 % of the pass on ONNX Runtime, for 79
 * classes we drop. Here the classification conv keeps only the person channel, the graph stops at the
 * raw head outputs, and `decodePersonPeaks` does the graph's own decoding on 16 K values in TypeScript
 * (with the box sides' scale: a multiply over 64 K values, 1.7 ms in the graph, is 100 here).
 *
 * The one difference from the original: its top 100 are taken over every class, ours over persons
 * only, so a photo with more than 100 peaks keeps persons that other classes pushed out before.
 */
import type { TfGraph } from './tfjs-graph.js';
import { UnsupportedGraphError } from './translate.js';

/** Raw person logits, `[1, 128, 128, 80]` in the graph (`[1, 128, 128, 1]` after `personOnlyHead`). */
export const CLASS_LOGITS_NAME = 'tower_0/CenternetHead/centernet_cls_output/BiasAdd';
/** Box sides per cell, `[1, 128, 128, 4]`: left, top, right, bottom distances in units of 16 input pixels. */
export const BOX_SIDES_NAME = 'tower_0/CenternetHead/centernet_wh_output/BiasAdd';

const CLASS_WEIGHTS = 'CenternetHead/centernet_cls_output/pointwise_weights';
const CLASS_BIASES = 'CenternetHead/centernet_cls_output/biases';

/** What the graph's own decoding uses; checked against its constants so a different model fails at load. */
export const HEAD = {
  classes: 80,
  personClass: 0,
  /** Input pixels per grid cell. */
  stride: 4,
  /** Input pixels per unit of the box sides (the graph multiplies them in its own decoding). */
  sideScale: 16,
  maxDetections: 100,
} as const;
const GRAPH_CONSTANTS: Record<string, number> = {
  'tower_0/strided_slice_7': HEAD.classes,
  'tower_0/mul_3/y': HEAD.stride,
  'tower_0/mul_4/y': HEAD.stride,
  'tower_0/mul_5/y': HEAD.stride,
  'tower_0/mul_6/y': HEAD.stride,
  'tower_0/TopKV2/k': HEAD.maxDetections,
  'tower_0/mul/y': HEAD.sideScale,
};

/** The graph with its classification conv cut to the person channel (weights `[1,1,C,80]` → `[1,1,C,1]`). */
export function personOnlyHead(graph: TfGraph): TfGraph {
  for (const [name, expected] of Object.entries(GRAPH_CONSTANTS)) {
    const value = graph.weights.get(name)?.values[0];
    if (value !== expected) {
      throw new UnsupportedGraphError(
        `constant "${name}" is ${value ?? 'missing'}, the person head expects ${expected}`,
      );
    }
  }
  const weights = graph.weights.get(CLASS_WEIGHTS);
  const biases = graph.weights.get(CLASS_BIASES);
  const [kh, kw, channels, classes] = weights?.shape ?? [];
  if (!weights || !biases || kh !== 1 || kw !== 1 || channels === undefined || classes !== HEAD.classes) {
    throw new UnsupportedGraphError(`"${CLASS_WEIGHTS}" is not a 1×1 conv to ${HEAD.classes} classes`);
  }
  const personWeights = new Float32Array(channels);
  for (let c = 0; c < channels; c++) personWeights[c] = weights.values[c * classes + HEAD.personClass] as number;
  const cut = new Map(graph.weights);
  cut.set(CLASS_WEIGHTS, { dtype: 'float32', shape: [1, 1, channels, 1], values: personWeights });
  cut.set(CLASS_BIASES, {
    dtype: 'float32',
    shape: [1],
    values: Float32Array.of(biases.values[HEAD.personClass] as number),
  });
  return { nodes: graph.nodes, weights: cut };
}

/**
 * The graph's decoding for one class: a cell is a peak when its score equals the maximum of its 3×3
 * neighbourhood (TF's SAME max-pool, ties kept), the `maxDetections` best peaks by score (ties: lower
 * index first, as TF's TopK), and each box is the cell's centre minus/plus its four side distances
 * (times `sideScale`).
 * Peaks are found on the logits (the sigmoid keeps their order) and only peaks pay for a sigmoid; the
 * graph compares sigmoids, which can tie where logits differ only above a score of 1 − 1e-7.
 * `logits` is `side × side` row-major, `sides` `side × side × 4`. Returns rows of x1, y1, x2, y2, score, class.
 */
export function decodePersonPeaks(logits: Float32Array, sides: Float32Array, side: number): Float32Array {
  const cells = side * side;
  if (logits.length !== cells || sides.length !== cells * 4) {
    throw new Error(`head outputs of ${logits.length} and ${sides.length} values do not fit a ${side}×${side} grid`);
  }
  const peaks: number[] = [];
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const logit = logits[y * side + x] as number;
      let isPeak = logit > Number.NEGATIVE_INFINITY;
      for (let dy = -1; dy <= 1 && isPeak; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= side) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx >= 0 && nx < side && (logits[ny * side + nx] as number) > logit) {
            isPeak = false;
            break;
          }
        }
      }
      if (isPeak) peaks.push(y * side + x);
    }
  }
  peaks.sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b);
  const kept = peaks.slice(0, HEAD.maxDetections);
  const rows = new Float32Array(kept.length * 6);
  kept.forEach((cell, k) => {
    const cx = (cell % side) * HEAD.stride;
    const cy = Math.floor(cell / side) * HEAD.stride;
    const at = (j: number) => (sides[cell * 4 + j] as number) * HEAD.sideScale;
    const score = 1 / (1 + Math.exp(-(logits[cell] as number)));
    rows.set([cx - at(0), cy - at(1), cx + at(2), cy + at(3), score, HEAD.personClass], k * 6);
  });
  return rows;
}
