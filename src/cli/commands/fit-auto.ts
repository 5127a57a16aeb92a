import { basename } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import {
  type AutoFitPhoto,
  contiguousFolds,
  crossValidatedAutoMae,
  fitAuto,
  fittedPart,
  type LabelledSet,
  MissingTilingError,
  scoreSet,
} from '../../analytics/auto-fit.js';
import { AUTO_DEFAULTS } from '../../analytics/auto-regime.js';
import { loadDataset, loadSavedDetections } from '../../analytics/dataset.js';
import { tilingLabel } from '../../analytics/tiling.js';
import { ConfigError, readJsonFile } from '../../core/config.js';
import { intArg, option, parseOptions } from '../options.js';

/** `DIR=FILE[,FILE…]`: a labelled folder and the raw detections `calibrate --save-detections` wrote for it. */
function setArg(value: string, previous: Array<{ dir: string; files: string[] }> = []) {
  const [dir, files] = value.split('=');
  if (!dir || !files) throw new InvalidArgumentError(`"${value}" is not DATASET_DIR=DETECTIONS.json[,…]`);
  return [...previous, { dir, files: files.split(',') }];
}

const sizesSchema = z.object({
  images: z.array(z.looseObject({ file: z.string(), width: z.number().int(), height: z.number().int() })),
});

async function loadSet(dir: string, files: readonly string[]): Promise<LabelledSet> {
  const photos = await loadDataset(dir);
  const sizes = sizesSchema.safeParse(readJsonFile(`${dir}/labels.json`));
  if (!sizes.success) throw new ConfigError(`${dir}/labels.json: fit-auto needs "width" and "height" of every image`);
  const sizeOf = new Map(sizes.data.images.map((image) => [image.file, image]));
  const saved = await loadSavedDetections(files);
  const labels = saved.tilings.map(tilingLabel);
  const truthOf = new Map(photos.map((photo) => [photo.file, photo.count]));
  const fitPhotos: AutoFitPhoto[] = saved.frames.flatMap((frame) => {
    const size = sizeOf.get(frame.file);
    const truth = truthOf.get(frame.file);
    if (!size || truth === undefined) return [];
    return [
      {
        truth,
        width: size.width,
        height: size.height,
        byTiling: new Map(frame.detections.map((detections, i) => [labels[i] as string, detections])),
      },
    ];
  });
  if (fitPhotos.length === 0) throw new ConfigError(`no saved detections match the photos of ${dir}`);
  return { name: basename(dir), photos: fitPhotos };
}

/** An MAE, or why it cannot be measured from the saved detections (a tiling the settings need was not saved). */
function measurable(mae: () => number): number | string {
  try {
    return mae();
  } catch (error) {
    if (error instanceof MissingTilingError) return `not measurable: ${error.message}`;
    throw error;
  }
}

export function fitAutoCommand(): Command {
  return new Command('fit-auto')
    .description(
      'fit the auto default (how many small candidates, and what share of all, trigger zoom; zoomed threshold) on several labelled sets together, from saved detections; report cross-set and cross-validated MAE',
    )
    .addOption(
      option(
        '--set <dir=files>',
        'a labelled folder and its saved raw detections (calibrate --save-detections; the whole frame and every zoom tiling, e.g. 1x1,2x2@0.25,3x3@0.25), repeatable',
      )
        .argParser(setArg)
        .makeOptionMandatory(),
    )
    .addOption(
      option('--folds <n>', 'contiguous folds for cross-validation within each set').argParser(intArg(2)).default(5),
    )
    .option('--json', 'print the result as JSON')
    .action(async (raw: unknown) => {
      const options = parseOptions(
        z.object({
          set: z.array(z.object({ dir: z.string(), files: z.array(z.string()) })),
          folds: z.number(),
          json: z.boolean().optional(),
        }),
        raw,
      );
      const sets = await Promise.all(options.set.map(({ dir, files }) => loadSet(dir, files)));
      const fitted = fitAuto(sets);
      const settings = { ...AUTO_DEFAULTS, ...fitted };
      if (!options.json) console.error(`fitted on all sets: ${JSON.stringify(fitted)}`);
      const result = {
        fitted,
        perSet: sets.map((set, i) => {
          const others = sets.filter((_, j) => j !== i);
          const crossSet = others.length > 0 ? { ...AUTO_DEFAULTS, ...fitAuto(others) } : undefined;
          return {
            ...scoreSet(set, settings),
            ...(crossSet
              ? { crossSetFitted: crossSet, crossSetMae: measurable(() => scoreSet(set, crossSet).mae) }
              : {}),
            crossValidatedMae: measurable(() =>
              crossValidatedAutoMae(sets, i, contiguousFolds(set.photos.length, options.folds)),
            ),
          };
        }),
      };
      if (options.json) {
        console.log(JSON.stringify(result));
        return;
      }
      console.log(
        `fitted on all sets  ${JSON.stringify(fitted)} (current default ${JSON.stringify(fittedPart(AUTO_DEFAULTS))})`,
      );
      for (const s of result.perSet) {
        console.log(`${s.name} (${s.n} photos)`);
        console.log(
          `  fitted on all sets     MAE ${s.mae.toFixed(3)}, bias ${s.bias.toFixed(3)} (in-sample), one pass ${(s.onePassRate * 100).toFixed(1)} %, passes/photo ${s.passesMean.toFixed(2)}`,
        );
        if (s.crossSetMae !== undefined)
          console.log(
            `  cross-set              MAE ${typeof s.crossSetMae === 'number' ? s.crossSetMae.toFixed(3) : s.crossSetMae} (fitted on the other sets only: ${JSON.stringify(s.crossSetFitted && fittedPart(s.crossSetFitted))})`,
          );
        console.log(
          `  cross-validated        MAE ${typeof s.crossValidatedMae === 'number' ? s.crossValidatedMae.toFixed(3) : s.crossValidatedMae} (${options.folds} contiguous folds, each counted with a fit on the other sets and the other folds)`,
        );
      }
    });
}
