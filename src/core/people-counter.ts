/**
 * The analytics platform as the rest of the system sees it (like Frigate's detector interface):
 * in-process model, HTTP client to the REST service, or the fixed-delay stand-in for benchmarks.
 * Callers never know which one runs.
 */
import { z } from 'zod';
import {
  countDecisionFields,
  type Detection,
  detectionSchema,
  type HeatMap,
  heatMapSchema,
  photoSizeFields,
} from './messages.js';

/** rows × cols tiles of equal size. */
export interface GridTiling {
  rows: number;
  cols: number;
  /** Fraction of a tile's size shared with its neighbour. */
  overlap: number;
}

/**
 * Horizontal bands from top to bottom, each with its own number of columns: in a fixed camera the
 * far rows hold the smallest people, so their band can be cut into more (hence more zoomed) tiles.
 */
export interface BandTiling {
  /** Band i ends at `to` × frame height (ascending, the last ends at 1) and is cut into `cols` tiles. */
  bands: Array<{ to: number; cols: number }>;
  /** Columns share this fraction of a tile's width; each band extends past its inner edges by this fraction of its height. */
  overlap: number;
}

export type Tiling = GridTiling | BandTiling;

/** Rows × cols tiles of equal size, or horizontal bands with their own number of columns. */
export const tilingSchema = z.union([
  z.object({
    rows: z.number().int().min(1).max(8),
    cols: z.number().int().min(1).max(8),
    overlap: z.number().min(0).max(0.5),
  }),
  z.object({
    bands: z
      .array(z.object({ to: z.number().gt(0).max(1), cols: z.number().int().min(1).max(8) }))
      .min(1)
      .max(8)
      .refine((bands) => bands.every((band, i) => i === 0 || band.to > (bands[i - 1]?.to ?? 0)), {
        message: 'band ends must ascend',
      })
      .refine((bands) => bands.at(-1)?.to === 1, { message: 'the last band must end at 1 (the bottom)' }),
    overlap: z.number().min(0).max(0.5),
  }),
]);

/** The largest density scale a profile may carry (tuning's fit stays within it). */
export const MAX_DENSITY_SCALE = 10;

/** The counting methods a profile can name (see counting-methods.ts). */
export const COUNTING_METHOD_NAMES = ['auto', 'detector', 'density'] as const;
export type CountingMethodName = (typeof COUNTING_METHOD_NAMES)[number];

/** Per-camera counting settings, written by `calibrate` and accepted by `count`, `eval` and inference. */
export const cameraProfileSchema = z.object({
  /**
   * How this camera is counted: `auto` (the default without detector settings) chooses per photo
   * between the detector and the crowd-density network; `detector` and `density` force one.
   */
  method: z.enum(COUNTING_METHOD_NAMES).optional(),
  /** The density method's count is scaled by this (fitted from labelled frames by tuning). */
  density: z.object({ scale: z.number().positive().max(MAX_DENSITY_SCALE) }).optional(),
  /**
   * Minimum detection score to count a person (with `thresholdShift`: for a box half the frame tall
   * that does not touch the frame edge). Without it the default, size- and edge-aware threshold applies.
   */
  scoreThreshold: z.number().min(0).max(1).optional(),
  /**
   * Shifts of the threshold on the logit scale: `perHalvingHeight` for every halving of the box height
   * below half the frame height (the other way above), `atFrameEdge` when the box touches the frame edge.
   */
  thresholdShift: z
    .object({ perHalvingHeight: z.number().min(-4).max(4), atFrameEdge: z.number().min(-8).max(8) })
    .optional(),
  /**
   * Split the frame into overlapping tiles (helps with small, far-away people): rows × cols of equal
   * size, or horizontal bands with their own number of columns (zoom further into the far rows).
   */
  tiling: tilingSchema.optional(),
  /** Test-time horizontal flip: run the model on the mirror image too and fuse scores (2× compute, steadier scores). */
  flip: z.boolean().optional(),
  /** Count only people whose box foot-point lies inside this polygon (image pixels). */
  roi: z
    .array(z.tuple([z.number(), z.number()]))
    .min(3)
    .optional(),
  /**
   * How the detections above `scoreThreshold` become a number (default `boxes`): `boxes` counts them,
   * `score-sum` adds up their scores (a box at 0.3 is 0.3 of a person), `score-bins` adds a fitted
   * weight per score bin: bin i holds scores in [edges[i], edges[i+1]) (the last one up to 1).
   * With `wholeFrameWeights`, `score-bins` also runs the model once on the whole frame and adds those
   * weights over the same bins of that pass (two scales: tiles find the small, far people; the whole
   * frame the near ones that tiles cut apart). The reported boxes stay those of the tiles.
   */
  counting: z
    .discriminatedUnion('mode', [
      z.object({ mode: z.literal('boxes') }),
      z.object({ mode: z.literal('score-sum') }),
      z
        .object({
          mode: z.literal('score-bins'),
          edges: z.array(z.number().min(0).max(1)).min(1).max(32),
          weights: z.array(z.number().min(0)),
          wholeFrameWeights: z.array(z.number().min(0)).optional(),
        })
        .refine((bins) => bins.weights.length === bins.edges.length, { message: 'one weight per bin edge' })
        .refine((bins) => (bins.wholeFrameWeights?.length ?? bins.edges.length) === bins.edges.length, {
          message: 'one whole-frame weight per bin edge',
        })
        .refine((bins) => bins.edges.every((edge, i) => i === 0 || edge > (bins.edges[i - 1] ?? 0)), {
          message: 'bin edges must ascend',
        }),
    ])
    .optional(),
  /** Applied to the (possibly fractional) count: count' = max(0, round(scale × count + offset)). */
  correction: z.object({ scale: z.number().positive(), offset: z.number() }).optional(),
});
export type CameraProfile = z.infer<typeof cameraProfileSchema>;

/** How a count was made (regime, tiling, model passes, hints); see `countDecisionFields`. */
export const countDecisionSchema = z.object(countDecisionFields);
export type CountDecision = z.infer<typeof countDecisionSchema>;

/** The decision fields of a count that are set (for messages that must not carry undefined keys). */
export function decisionOf({ method, regime, tiling, passes, hints }: CountDecision): CountDecision {
  return {
    ...(method !== undefined ? { method } : {}),
    ...(regime !== undefined ? { regime } : {}),
    ...(tiling !== undefined ? { tiling } : {}),
    ...(passes !== undefined ? { passes } : {}),
    ...(hints !== undefined ? { hints } : {}),
  };
}

export interface CountResult extends CountDecision {
  count: number;
  detections: Detection[];
  /** Density counts: people per cell of a coarse grid over the photo, for the dashboard's heat map. */
  heatMap?: HeatMap;
  /** The photo's size in pixels, as counted (absent for stand-ins and older remote counters). */
  width?: number;
  height?: number;
  /** Model identifier, e.g. `centernet-mobilenetv3@human-3.3.6`, or `fixed-delay-50ms (stand-in)`. */
  model: string;
  /** Runtime that ran the model in this process (`onnx`, `wasm`); absent for remote or stand-in counters. */
  backend?: string;
  /** Compute time of this count in milliseconds. */
  ms: number;
}

/** The analytics REST service's answer to `POST /v1/count`: what the service sends and its client checks. */
export const countResponseSchema = z.object({
  count: z.number().int().nonnegative(),
  detections: z.array(detectionSchema),
  model: z.string(),
  ms: z.number(),
  heatMap: heatMapSchema.optional(),
  ...photoSizeFields,
  ...countDecisionFields,
});

/** The image could not be decoded or is unacceptable: retrying will not help. */
export class UnusableImageError extends Error {
  override name = 'UnusableImageError';
}

/** The counter is overloaded (queue full); retry later. */
export class CounterBusyError extends Error {
  override name = 'CounterBusyError';
}

export interface PeopleCounter {
  readonly model: string;
  /** `camera` (a device ID) lets the counter remember the view across photos (the auto default's crowd checks). */
  count(jpeg: Buffer, profile?: CameraProfile, camera?: string): Promise<CountResult>;
  close(): Promise<void>;
}
