/**
 * Opening a training run. `openRun` binds a run folder: its identity (the same dataset, preset,
 * seed and weights, or nothing yet), its lock, the model with its pretrained weights, the split
 * (made once, read back on a resume) and the resume point, in that order, so that a refused or
 * failed start writes nothing. `train()` runs every stage, as `deno task train` does; the
 * `TrainingRun` it opens (training_run.ts) trains one stage at a time and resumes by itself.
 *
 * @example
 * ```ts
 * const run = await openRun({ data, weights, out: "data/runs/mine", preset: PRESETS.cpu });
 * try {
 *   await run.trainStage(1); // frozen backbone, Adam
 *   await run.trainStage(2); // last blocks unfrozen, SGD
 * } finally {
 *   await run.close();
 * }
 * ```
 */
import { initBackend } from "../engine/tf.ts";
import { timed } from "../phases.ts";
import { logLine } from "../progress.ts";
import { listingChanges, prepareData, type PreparedData } from "../data/prepare.ts";
import { readDataset } from "../data/readers.ts";
import { LabelMap } from "../data/labels.ts";
import type { DatasetListing } from "../data/dataset.ts";
import type { Skipped } from "../errors.ts";
import { exists, removeStaleTemporaries } from "../files.ts";
import { type Backbone, backboneSpec, buildBackbone } from "../model/index.ts";
import {
  disposePretrained,
  loadPretrained,
  type PretrainedWeights,
  readPretrained,
} from "../model/pretrained.ts";
import { buildSeedModel, disposeSeedModel, type SeedModel } from "../model/seed_model.ts";
import {
  type ResolvedRunSettings,
  resolveRunSettings,
  type RunConfig,
  runConfig,
  runIdentity,
  writeRunConfig,
} from "../run/config.ts";
import { checkIdentity, lockRunFolder, type RunIdentity } from "../run/folder.ts";
import { holderOf, replaceHolder } from "../run/registry.ts";
import { reporter } from "./stage_inputs.ts";
import { runFiles } from "../layout.ts";
import { TrainingRun, type TrainOptions, type TrainResult } from "./training_run.ts";

export type { RunConfig } from "../run/config.ts";
export { TrainingRun, type TrainOptions, type TrainResult } from "./training_run.ts";

/** Trains every stage of a run (or resumes it; a complete run is only loaded back). */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const run = await openRun(options);
  try {
    for (const stage of run.stages) await run.trainStage(stage.index + 1);
    return await run.result();
  } finally {
    await run.close();
  }
}

/** Opens a run folder: checks that it holds this run (or nothing), loads the model's weights,
 * locks the folder, prepares the split and finds where to resume. Close it when done. */
export async function openRun(given: TrainOptions): Promise<TrainingRun> {
  const options = resolveRunSettings(given);
  // The folder opened before in this process (a notebook cell run again): closed, its model freed.
  await holderOf("training run", options.out)?.release();
  // The backend the process chose (chosen now, quietly, if nothing did yet).
  const { engine, engineThreads } = await initBackend({ quiet: true });
  // The inputs, each read once (a job hands down what it read): weights that do not load are
  // refused before the first file of the folder is written.
  const listing = given.listing ?? await readDataset(options.data);
  const pretrained = given.pretrained ?? await readPretrainedFor(options);
  try {
    return await openWith({ ...options, listing, pretrained }, engine, engineThreads);
  } finally {
    if (!given.pretrained) disposePretrained(pretrained);
  }
}

/** The weights a run starts from, for its backbone (`imagenet` names the backbone's own). */
export function readPretrainedFor(
  options: Pick<TrainOptions, "preset" | "weights">,
): Promise<PretrainedWeights> {
  const { name, alpha, size } = options.preset.backbone;
  return readPretrained(backboneSpec(name, { alpha, size }), options.weights);
}

async function openWith(
  options:
    & ResolvedRunSettings<TrainOptions>
    & Required<Pick<TrainOptions, "listing" | "pretrained">>,
  engine: "onnxruntime" | "tfjs",
  engineThreads: number,
): Promise<TrainingRun> {
  const { listing, pretrained } = options;
  const log = options.log ?? logLine;
  // The run folder's contract first, before anything is written: same run, one process.
  const { identity, state } = await checkRun(options);
  const config = runConfig(options, identity);
  const existed = await exists(options.out);
  const lock = await lockRunFolder(options.out);
  let model: SeedModel | undefined;
  let data: PreparedData | undefined;
  let run: TrainingRun | undefined;
  try {
    const classes = LabelMap.fromLabels(listing.train.map((t) => t.label)).size;
    const built = await timed(
      "loading the model",
      () => buildModel(config, pretrained, classes, log),
    );
    model = built.model;
    await prepareFolder(options.out, config, state, log);
    data = await splitData(options, listing, state, log);
    run = new TrainingRun(options, {
      config,
      data,
      ...built,
      lock,
      log,
      engine: { name: engine, threads: engineThreads },
    });
    await run.findResumePoint();
    const opened = run;
    await replaceHolder("training run", options.out, { release: () => opened.dispose() });
    return run;
  } catch (error) {
    if (run) await run.dispose();
    else {
      data?.cache?.close();
      if (model) disposeSeedModel(model);
      await lock.release();
      // A folder this call made goes too, when nothing else landed in it meanwhile.
      if (!existed) await Deno.remove(options.out).catch(() => {});
    }
    throw error;
  }
}

/**
 * Whether a folder holds this run (a resume) or nothing yet (new); another run's folder is
 * refused, with one line naming what differs. Nothing is written.
 */
export async function checkRun(
  given: TrainOptions,
): Promise<{ identity: RunIdentity; state: "new" | "resume" }> {
  const options = resolveRunSettings(given);
  const photos = given.listing ?? await readDataset(options.data);
  // The weights' fingerprint is taken as they are read: read here when no one handed them down.
  const pretrained = given.pretrained ?? await readPretrainedFor(options);
  const weights = pretrained.fingerprint;
  if (!given.pretrained) disposePretrained(pretrained);
  const identity = runIdentity(options, photos, weights);
  const state = await checkIdentity(
    options.out,
    identity,
    () => listingChanges(options.out, photos),
  );
  return { identity, state };
}

/** Temporary files of a killed run go; `run.json` comes first in a new folder. */
async function prepareFolder(
  out: string,
  config: RunConfig,
  state: "new" | "resume",
  log: (line: string) => void,
): Promise<void> {
  const leftovers = await removeStaleTemporaries(out);
  if (leftovers.length) log(`removed ${leftovers.length} temporary file(s) of an interrupted run`);
  await Deno.mkdir(runFiles(out).checkpoints, { recursive: true });
  if (state === "new") await writeRunConfig(out, config);
}

/** The split (saved on the first run, read back on a resume) and the decoded photos. */
async function splitData(
  options: ResolvedRunSettings<TrainOptions>,
  listing: DatasetListing,
  state: "new" | "resume",
  log: (line: string) => void,
): Promise<PreparedData> {
  const { out } = options;
  const data = await prepareData({
    data: options.data,
    out,
    seed: options.splitSeed,
    folds: options.folds,
    size: options.preset.backbone.size,
    cacheDir: options.cacheDir,
    valFraction: options.valFraction,
    testFraction: options.testFraction,
    listing,
    // A split file removed (as a damaged one's line advises) is made again, the whole split
    // with it: the seed makes the same one.
    resume: state === "resume" && await allExist(runFiles(out), ["labels", "split", "testAnswers"]),
    onProgress: reporter("decode", options.progress),
    onDecoded: log,
  });
  reportSkipped(data.skipped, out, log);
  return data;
}

async function allExist<K extends string>(
  files: Record<K, string>,
  keys: readonly K[],
): Promise<boolean> {
  for (const key of keys) if (!(await exists(files[key]))) return false;
  return true;
}

/** The backbone with its pretrained weights under the seed's heads. */
async function buildModel(
  config: RunConfig,
  pretrained: PretrainedWeights,
  classes: number,
  log: (line: string) => void,
): Promise<{ backbone: Backbone; model: SeedModel; weights: string }> {
  const { name, ...options } = config.preset.backbone;
  const backbone = buildBackbone(name, options);
  const loaded = await loadPretrained(backbone, pretrained);
  log(`backbone ${backbone.spec.name}: ${loaded.loaded.length} layers from ${loaded.path}`);
  const model = buildSeedModel(backbone, { classes, seed: config.seed, glu: config.glu });
  return { backbone, model, weights: loaded.path };
}

/** Unreadable photos on the console: how many, the first few, and where the full list is. */
function reportSkipped(skipped: readonly Skipped[], out: string, log: (line: string) => void) {
  if (!skipped.length) return;
  const first = skipped.slice(0, 3).map((s) => `  ${s.path}: ${s.problem}`);
  const more = skipped.length > 3 ? [`  ... and ${skipped.length - 3} more`] : [];
  log(
    [
      `skipped ${skipped.length} unusable photo(s) (full list: ${runFiles(out).skipped}):`,
      ...first,
      ...more,
    ].join("\n"),
  );
}
