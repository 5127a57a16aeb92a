/**
 * The counting seam: every way of turning a photo into a count is one `CountingMethod` over the model
 * passes of that photo, registered here by name. A profile names its method (`method`); without one,
 * a profile with detector settings counts with the detector and an empty profile with `auto`, which
 * looks at one detector pass and chooses. The local pool only binds the passes to a photo and its
 * workers; the remote counter (http-counter.ts) sends the whole photo to a service that does the same.
 */
import type { Clock } from '../core/clock.js';
import type { Detection, HeatMap } from '../core/messages.js';
import type { CameraProfile, CountDecision, CountingMethodName } from '../core/people-counter.js';
import { AUTO_DEFAULTS, type AutoSettings, countAuto, firstPassOptions, usesAutoDefault } from './auto-regime.js';
import { CrowdMemory } from './crowd-memory.js';
import { countDensity, type DensityMap, heatMap } from './density.js';
import type { DetectOptions } from './detector.js';
import { type CountableFrame, countDetections, detectOptionsFor, passesOf } from './postprocess.js';

/** The model passes one photo may take. */
export interface PhotoPasses {
  detect(options: Required<DetectOptions> | DetectOptions): Promise<CountableFrame>;
  /** Absent where the density network cannot run (the tfjs-wasm fallback has no density model). */
  density?: () => Promise<DensityMap>;
}

export interface MethodCount extends CountDecision {
  count: number;
  detections: Detection[];
  /** Density results only: people per cell, for the dashboard's overlay. */
  heatMap?: HeatMap;
}

export interface CountingMethod {
  /** `camera` identifies the view across photos, for methods that remember it (auto). */
  count(passes: PhotoPasses, profile: CameraProfile, camera?: string): Promise<MethodCount>;
}

/** The detector under the profile's settings: threshold, tiles, flip, counting mode, ROI, correction. */
export const detectorMethod: CountingMethod = {
  async count(passes, profile) {
    const options = detectOptionsFor(profile);
    const counted = countDetections(await passes.detect(options), profile);
    return { ...counted, method: 'detector', regime: 'profile', ...passesOf(options) };
  },
};

/** The crowd-density network: the map's sum inside the ROI, times the profile's density scale. */
export const densityMethod: CountingMethod = {
  async count(passes, profile) {
    const map = await densityOf(passes);
    return {
      count: countDensity(map, profile),
      detections: [],
      method: 'density',
      regime: 'density',
      passes: 1,
      heatMap: heatMap(map),
    };
  },
};

function densityOf(passes: PhotoPasses): Promise<DensityMap> {
  if (!passes.density) throw new Error('the density model needs ONNX Runtime, which cannot load here');
  return passes.density();
}

/**
 * The default: one detector pass; a view of small people is counted by density, any other is checked by
 * density when the camera's memory asks for it, and counted by density if that finds a crowd.
 */
export function autoMethod(memory: CrowdMemory, settings: AutoSettings = AUTO_DEFAULTS): CountingMethod {
  return {
    async count(passes, profile, camera) {
      const first = await passes.detect(firstPassOptions(profile, settings));
      const { densityChecked, ...counted } = await countAuto(
        first,
        {
          tiles: (tiling, minScore) => passes.detect({ tiling, minScore, flip: profile.flip ?? false }),
          ...(passes.density ? { density: passes.density } : {}),
        },
        profile,
        settings,
        memory.needsCheck(camera),
      );
      if (densityChecked) memory.checked(camera, counted.method === 'density');
      return counted;
    },
  };
}

/** The methods by name, `auto` with its own per-camera memory on `clock`. */
export function countingMethods(clock: Pick<Clock, 'now'>): Record<CountingMethodName, CountingMethod> {
  return {
    auto: autoMethod(new CrowdMemory(clock, AUTO_DEFAULTS.densityCheckEveryMs)),
    detector: detectorMethod,
    density: densityMethod,
  };
}

/** The method a profile asks for: its own `method`, else `auto` unless it has detector settings. */
export const methodOf = (profile: CameraProfile = {}): CountingMethodName =>
  profile.method ?? (usesAutoDefault(profile) ? 'auto' : 'detector');
