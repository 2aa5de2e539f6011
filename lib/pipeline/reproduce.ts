/**
 * The whole recipe, end to end: split, three training stages with the blend search, prediction of
 * the test photos, the three submission files, pseudo-label transfer (test photos with their
 * predicted labels join all labelled photos, and the best checkpoint is fine-tuned again), and
 * the final submission files. Every step is resumable, so running it again after an interruption
 * continues where it stopped and ends with the same files.
 */
import { join } from "node:path";
import { cacheImages } from "../data/cache.ts";
import type { LabelledImage } from "../data/dataset.ts";
import { loadRun, predictPhotos, type Probabilities } from "../predict/predict.ts";
import { scoreSubmission, type SubmissionFiles, writeSubmissions } from "../predict/submission.ts";
import { argmaxRow, blend } from "../train/blend.ts";
import type { Preset } from "../train/presets.ts";
import { train } from "../train/run.ts";
import type { Callback } from "../train/trainer.ts";
import { DataError, UsageError } from "../data/errors.ts";
import { readTestFolder } from "../data/readers.ts";
import { lockRunFolder, refuseForeignFolder } from "../train/run_folder.ts";
import { exists, removeStaleTemporaries, writeTextAtomic } from "../files.ts";

export interface ReproduceOptions {
  data: string;
  weights: string;
  out: string;
  preset: Preset;
  seed?: number;
  /** Seed of the data split alone (default: `seed`); see TrainOptions. */
  splitSeed?: number;
  /** Average each test prediction with its mirror image (beyond the seed). */
  flip?: boolean;
  /** Keep only pseudo-labels whose blended probability reaches this (beyond the seed; 0 keeps all,
   * as the seed does). */
  threshold?: number;
  /** Skip the transfer step. */
  transfer?: boolean;
  valFraction?: number;
  testFraction?: number;
  cacheDir?: string;
  callbacks?: Callback[];
  log?: (line: string) => void;
  /** Progress bars for decoding and trunk caching (default true). */
  progress?: boolean;
}

export interface Scores {
  main: number;
  aux: number;
  blend: number;
}

export interface ReproduceSummary {
  alpha: number;
  validation: { main: number; aux: number; blend: number };
  checkpoint: string;
  before: SubmissionFiles;
  after?: SubmissionFiles;
  pseudoLabels: number;
  /** Accuracy of the submission files on the carved-off test part (ImageFolder data only). */
  scores?: { before: Scores; after?: Scores };
  seconds: number;
}

export async function reproduce(options: ReproduceOptions): Promise<ReproduceSummary> {
  const started = performance.now();
  const { out, flip = false, threshold = 0 } = options;
  // Nothing to predict is an error before anything runs.
  if (await hasCompetitionLabels(options.data)) {
    const testDir = join(options.data, "test");
    if (!(await readTestFolder(testDir)).length) {
      throw new DataError(
        testDir,
        "no test photos: the competition layout needs test/<image_id>.jpg to predict",
      );
    }
  } else if (options.testFraction === 0) {
    throw new UsageError(
      "--test-fraction 0 leaves an ImageFolder dataset without test photos: nothing to predict",
    );
  }
  await checkSettings(out, { flip, threshold, transfer: options.transfer !== false });
  const lock = await lockRunFolder(out);
  try {
    await removeStaleTemporaries(out, false);
    await removeStaleTemporaries(join(out, "submissions"));
    return await reproduceLocked(options, started);
  } finally {
    await lock.release();
  }
}

/** The options that change a reproduce folder's files beyond its training runs (reproduce.json):
 * refused when they differ from what the folder was made with. */
async function checkSettings(out: string, settings: Record<string, unknown>): Promise<void> {
  const file = join(out, "reproduce.json");
  const saved = await Deno.readTextFile(file).then(JSON.parse, () => undefined);
  if (saved) {
    for (const [key, value] of Object.entries(settings)) {
      if (JSON.stringify(saved[key]) !== JSON.stringify(value)) {
        throw new DataError(
          file,
          `${key}: this run folder was made with ${JSON.stringify(saved[key])}, the command ` +
            `asks ${JSON.stringify(value)}; start it in another folder (--out)`,
        );
      }
    }
    return;
  }
  await Deno.mkdir(out, { recursive: true });
  // A folder whose train/ part was trained alone (notebook 03) is continued; train() checks it.
  await refuseForeignFolder(
    out,
    ["train"],
    "not empty and not a reproduce run folder; start it in another folder (--out)",
  );
  await writeTextAtomic(file, JSON.stringify(settings, null, 1));
}

function hasCompetitionLabels(data: string): Promise<boolean> {
  return exists(join(data, "train.txt"));
}

async function reproduceLocked(
  options: ReproduceOptions,
  started: number,
): Promise<ReproduceSummary> {
  const { out, preset, seed = 0, flip = false, threshold = 0 } = options;
  const log = options.log ?? ((line: string) => console.error(line));
  const common = {
    data: options.data,
    weights: options.weights,
    preset,
    seed,
    splitSeed: options.splitSeed,
    cacheDir: options.cacheDir,
    valFraction: options.valFraction,
    testFraction: options.testFraction,
    callbacks: options.callbacks,
    log,
    progress: options.progress,
  };

  log("== stages 1-3: training");
  const base = await train({ ...common, out: join(out, "train") });
  const answers = base.data.testAnswers.length ? join(out, "train", "test_answers.tsv") : undefined;
  const testIds = base.data.test.map((t) => t.id);
  // Every test id gets a line: photos that did not decode get the fallback prediction.
  const unreadable = base.data.unreadableTest.map((t) => t.id);
  if (unreadable.length) {
    log(
      `${unreadable.length} test photo(s) could not be read (listed in ${
        join(out, "train", "skipped.tsv")
      }); their submission lines are the most frequent training class`,
    );
  }
  const prior = classPrior(
    base.data.train.map((t) => base.data.labels.toIndex(t.label)),
    base.data.labels.size,
  );
  const answerAll = (probs: Probabilities) => withFallback(testIds, probs, unreadable, prior);
  const cache = await cacheImages(base.data.test, {
    size: preset.backbone.size,
    dir: options.cacheDir,
  });
  try {
    const run = await loadRun(join(out, "train"), "best");
    const { alpha, main, aux, blend: blended } = run.checkpoint.meta.metrics;
    log(`== prediction of ${testIds.length} test photos with ${run.checkpoint.path}`);
    const probs = predictPhotos(run.model, cache, testIds, { flip });
    const before = await writeSubmissions(
      join(out, "submissions", "before-transfer"),
      ...answerAll(probs),
      alpha,
      run.labels,
    );
    const summary: ReproduceSummary = {
      alpha,
      validation: { main, aux, blend: blended },
      checkpoint: run.checkpoint.path,
      before,
      pseudoLabels: 0,
      seconds: 0,
    };
    if (answers) summary.scores = { before: await scoreAll(before, answers) };

    // A preset without transfer stages (quick) stops after the first submissions.
    if (options.transfer !== false && preset.transferStages.length > 0) {
      const pseudo = pseudoLabels(
        base.data.test,
        probs,
        alpha,
        threshold,
        (i) => run.labels.toLabel(i),
      );
      summary.pseudoLabels = pseudo.length;
      log(
        `== transfer: ${pseudo.length} pseudo-labelled test photos join ${
          base.data.train.length + base.data.val.length
        } labelled ones`,
      );
      await train({
        ...common,
        out: join(out, "transfer"),
        stages: preset.transferStages,
        init: run.checkpoint.path,
        pseudo,
        trainOnVal: true,
      });
      // The validation photos are training data now, so "best" means nothing: take the last.
      const tuned = await loadRun(join(out, "transfer"), "latest");
      const after = await writeSubmissions(
        join(out, "submissions"),
        ...answerAll(predictPhotos(tuned.model, cache, testIds, { flip })),
        alpha,
        tuned.labels,
      );
      summary.after = after;
      if (answers && summary.scores) summary.scores.after = await scoreAll(after, answers);
    }
    summary.seconds = (performance.now() - started) / 1000;
    await Deno.writeTextFile(join(out, "summary.json"), JSON.stringify(summary, null, 1));
    return summary;
  } finally {
    cache.close();
  }
}

/** Training-class frequencies: the fallback prediction for a test photo that cannot be read. */
export function classPrior(labels: readonly number[], classes: number): Float32Array {
  const prior = new Float32Array(classes);
  for (const label of labels) prior[label] += 1 / labels.length;
  return prior;
}

/** Predictions for `ids` plus `missing` ids answered with `prior` (both heads), sorted by id. */
export function withFallback(
  ids: readonly string[],
  probs: Probabilities,
  missing: readonly string[],
  prior: Float32Array,
): [string[], Probabilities] {
  if (!missing.length) return [[...ids], probs];
  const all = [...ids.map((id, row) => ({ id, row })), ...missing.map((id) => ({ id, row: -1 }))]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const k = probs.classes;
  const main = new Float32Array(all.length * k);
  const aux = new Float32Array(all.length * k);
  all.forEach(({ row }, i) => {
    main.set(row < 0 ? prior : probs.main.subarray(row * k, (row + 1) * k), i * k);
    aux.set(row < 0 ? prior : probs.aux.subarray(row * k, (row + 1) * k), i * k);
  });
  return [all.map((a) => a.id), { main, aux, classes: k }];
}

/** Test photos labelled with the blend's prediction, optionally only the confident ones. */
export function pseudoLabels(
  test: readonly { id: string; path: string }[],
  probs: Probabilities,
  alpha: number,
  threshold: number,
  label: (index: number) => string,
): LabelledImage[] {
  const p = blend(probs.main, probs.aux, alpha);
  return test.flatMap((t, i) => {
    const c = argmaxRow(p, i, probs.classes);
    return p[i * probs.classes + c] >= threshold
      ? [{ id: t.id, path: t.path, label: label(c) }]
      : [];
  });
}

async function scoreAll(files: SubmissionFiles, answers: string): Promise<Scores> {
  return {
    main: (await scoreSubmission(files.main, answers)).accuracy,
    aux: (await scoreSubmission(files.aux, answers)).accuracy,
    blend: (await scoreSubmission(files.blend, answers)).accuracy,
  };
}
