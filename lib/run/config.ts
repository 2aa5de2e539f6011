/**
 * What a run is: the settings it was started with, written to `run.json` before anything else, so
 * that whatever else lands in the folder is known to belong to this run, and read back to resume
 * it or to rebuild its model.
 */
import { basename, resolve } from "node:path";
import type { DatasetListing, LabelledImage } from "../data/dataset.ts";
import type { Folds } from "../data/split.ts";
import type { StreamConfig } from "../augment/pipeline.ts";
import type { LossWeights } from "../model/loss.ts";
import { DEFAULTS } from "../defaults.ts";
import { DataError } from "../errors.ts";
import { sha256Hex, writeTextAtomic } from "../files.ts";
import { listingFingerprint, type RunIdentity } from "./folder.ts";
import type { Preset, StageSpec } from "./presets.ts";
import { runFiles } from "../layout.ts";

/** Everything that changes what a run computes. */
export interface RunSettings {
  data: string;
  weights: string;
  preset: Preset;
  /** Seed of every random choice (default: DEFAULTS.seed). */
  seed?: number;
  /** Seed of the data split alone (default: `seed`). Runs that share it share their validation
   * and test photos, so they can be ensembled; `seed` still drives everything else. */
  splitSeed?: number;
  /** Per-class validation fraction and, for ImageFolder data, test carve-off (DEFAULTS). */
  valFraction?: number;
  testFraction?: number;
  /** K-fold cross-validation: fold `index` of `count` validates instead of `valFraction` (the
   * test part is the same for every fold). */
  folds?: Folds;
  /** The model without the GLU (ablation). */
  glu?: boolean;
  lossWeights?: LossWeights;
  /** Switch off augmentations (ablations). */
  without?: StreamConfig["without"];
  /** "plain": uniform batches instead of the seed's class pairs (ablation). */
  sampler?: StreamConfig["sampler"];
  /** Stages to run instead of the preset's (pseudo-label transfer runs its own). */
  stages?: StageSpec[];
  /** Start from this checkpoint's weights (when the run folder has none of its own yet). */
  init?: string;
  /** Pseudo-labelled photos (dataset labels) added to the pool of the transfer policies. */
  pseudo?: LabelledImage[];
  /** Train on the validation photos too (the seed's transfer uses all labelled data). */
  trainOnVal?: boolean;
  /** The job settings a run depends on (a transfer: how its pseudo-labels were made), kept in
   * its identity so the job folder can be checked against them. */
  job?: Record<string, unknown>;
}

/** What a run was started with (`run.json`), enough to rebuild its model from a checkpoint. */
export interface RunConfig {
  data: string;
  weights: string;
  preset: Preset;
  seed: number;
  glu: boolean;
  lossWeights: LossWeights;
  /** What the run folder is bound to (see folder.ts). */
  identity: RunIdentity;
}

/** Bumped whenever what a run computes changes for the same settings (3: photos that are not
 * already square at the model's size are cropped and resized as the seed does, `data/square.ts`;
 * 4: an ImageFolder photo's id is `<class>/<file name>`, unique per photo). */
export const RECIPE_VERSION = 4;

/** RunSettings with every default filled in (from DEFAULTS): what a run works with. */
export type ResolvedRunSettings<T extends RunSettings = RunSettings> = T & {
  seed: number;
  splitSeed: number;
  valFraction: number;
  testFraction: number;
  glu: boolean;
  lossWeights: LossWeights;
  without: NonNullable<RunSettings["without"]>;
  trainOnVal: boolean;
};

/** Fills the settings a caller left out; done once, where a run is opened. */
export function resolveRunSettings<T extends RunSettings>(settings: T): ResolvedRunSettings<T> {
  const seed = settings.seed ?? DEFAULTS.seed;
  return {
    ...settings,
    seed,
    splitSeed: settings.splitSeed ?? seed,
    valFraction: settings.valFraction ?? DEFAULTS.valFraction,
    testFraction: settings.testFraction ?? DEFAULTS.testFraction,
    glu: settings.glu ?? DEFAULTS.glu,
    lossWeights: settings.lossWeights ?? DEFAULTS.lossWeights,
    without: settings.without ?? [],
    trainOnVal: settings.trainOnVal ?? false,
  };
}

/** What makes a run this run: compared with a folder's `run.json` before anything is written. */
export function runIdentity(
  settings: ResolvedRunSettings,
  listing: DatasetListing,
  /** The weights' path and SHA-256, taken as they were read (`readPretrained`). */
  weights: RunIdentity["weights"],
): RunIdentity {
  const { preset, seed } = settings;
  return {
    dataset: {
      root: resolve(settings.data),
      photos: listing.train.length + listing.test.length,
      listing: listingFingerprint(listing),
    },
    preset: preset.name,
    seed,
    weights,
    settings: {
      // The recipe's semantics beyond its settings (2: the seed's split counts, spliced pairs
      // left alone, int zoom, the transfer's Train rounds on the training split; 3: the seed's
      // crop then resize; 4: ImageFolder ids): a folder made by another is not resumed.
      recipeVersion: RECIPE_VERSION,
      recipe: sha256Hex(JSON.stringify(trainingRecipe(preset)), 16),
      splitSeed: settings.splitSeed,
      valFraction: settings.valFraction,
      testFraction: settings.testFraction,
      glu: settings.glu,
      lossWeights: settings.lossWeights,
      without: settings.without,
      stages: settings.stages ? sha256Hex(JSON.stringify(settings.stages), 16) : "preset",
      init: settings.init ? basename(settings.init) : null,
      pseudoLabels: settings.pseudo
        ? sha256Hex(settings.pseudo.map((p) => `${p.id}\t${p.label}`).join("\n"), 16)
        : null,
      trainOnVal: settings.trainOnVal,
      // Only when set: folders made before folds existed keep their identity.
      ...(settings.folds ? { folds: settings.folds } : {}),
      ...(settings.sampler ? { sampler: settings.sampler } : {}),
      ...(settings.job ? { job: settings.job } : {}),
    },
  };
}

/** What of a preset trains: flip test-time augmentation only changes a job's predictions (its
 * folder's reproduce.json records it), so a run is the same run with it or without. */
function trainingRecipe(preset: Preset): Omit<Preset, "flip"> {
  const { flip: _, ...recipe } = preset;
  return recipe;
}

export function runConfig(settings: ResolvedRunSettings, identity: RunIdentity): RunConfig {
  const { data, weights, preset, seed, glu, lossWeights } = settings;
  return { data, weights, preset, seed, glu, lossWeights, identity };
}

export async function writeRunConfig(dir: string, config: RunConfig): Promise<void> {
  await writeTextAtomic(runFiles(dir).config, JSON.stringify(config, null, 1));
}

export async function readRunConfig(dir: string): Promise<RunConfig> {
  const file = runFiles(dir).config;
  const text = await Deno.readTextFile(file).catch(() => {
    throw new DataError(
      dir,
      "no run.json: not a training run folder (train first: deno task train, notebook 03)",
    );
  });
  try {
    return JSON.parse(text) as RunConfig;
  } catch (error) {
    throw new DataError(file, `not valid JSON (${(error as Error).message})`);
  }
}
