/**
 * The whole recipe, end to end: split, three training stages with the blend search, prediction of
 * the test photos, the three submission files, pseudo-label transfer (test photos with their
 * predicted labels join all labelled photos, and the best checkpoint is fine-tuned again), and
 * the final submission files. Every step is resumable, so running it again after an interruption
 * continues where it stopped and ends with the same files.
 */
import { DEFAULTS } from "../defaults.ts";
import { cacheImages, type ImageCache } from "../data/cache.ts";
import type { LabelMap } from "../data/labels.ts";
import type { LabelledImage } from "../data/dataset.ts";
import { predictPhotos, type Probabilities } from "../predict/predict.ts";
import { loadRun } from "../run/load.ts";
import { checkpointDamage, type CheckpointMeta } from "../run/checkpoint.ts";
import { readRunConfig } from "../run/config.ts";
import { basename } from "node:path";
import { scoreSubmission, type SubmissionFiles, writeSubmissions } from "../predict/submission.ts";
import {
  checkRun,
  openRun,
  train,
  type TrainingRun,
  type TrainOptions,
  type TrainResult,
} from "../train/run.ts";
import type { Callback } from "../train/round.ts";
import { DataError, UsageError } from "../errors.ts";
import { lockRunFolder, type RunLock } from "../run/folder.ts";
import { disposePretrained, type PretrainedWeights } from "../model/pretrained.ts";
import { holderOf, replaceHolder } from "../run/registry.ts";
import { exists, readJsonIfAny, removeStaleTemporaries, writeTextAtomic } from "../files.ts";
import { phaseTimes, resetPhases, timed } from "../phases.ts";
import { jobFiles, runFiles } from "../layout.ts";
import { type BudgetPlan, presetFlip, type StageSpec } from "../run/presets.ts";
import {
  MIN_TRANSFER_FACTOR,
  paceLine,
  refitTransfer,
  type TransferFit,
  workloadOf,
} from "../train/budget.ts";
import { logLine, percent } from "../progress.ts";

import { preflight, settleSettings } from "./job_folder.ts";
import { classPrior, pseudoLabels, withFallback } from "./pseudo_labels.ts";
/** A job's options: a training run's (its `out` is the job's folder; `train/` and `transfer/` are
 * made inside it) and what the job adds. Missing ones come from DEFAULTS. */
export interface ReproduceOptions
  extends Omit<TrainOptions, "stages" | "init" | "pseudo" | "trainOnVal"> {
  /** Average each test prediction with its mirror image (beyond the seed). */
  flip?: boolean;
  /** Keep only pseudo-labels whose blended probability reaches this (beyond the seed; 0 keeps all,
   * as the seed does). */
  threshold?: number;
  /** Run the transfer step (when the preset has transfer stages). */
  transfer?: boolean;
}

/** What a job adds to its training runs' settings, filled in. */
type JobSettings = {
  flip: boolean;
  threshold: number;
  transfer: boolean;
};

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
  /** Where the wall time went, in seconds per phase ("other": what no phase covers). */
  phases: Record<string, number>;
  /** The plan under `--minutes` (the budget, its scale and estimate). */
  budget?: BudgetPlan;
  /** The job's settings (flip, threshold, transfer), as `reproduce.json` records them. */
  settings?: JobSettings;
  /** Set when a finished job was run again: the summary is what it stored, nothing was redone. */
  stored?: boolean;
  /** What the job has to say at its end: a transfer skipped for time, or one that lowered the
   * test part's accuracy. */
  notes?: string[];
}

/** One prediction of the test photos and the submission files written from it. */
export interface TestPredictions {
  /** Every test id, sorted; unreadable photos carry the class prior. */
  ids: string[];
  probs: Probabilities;
  /** The blend weight chosen on validation before the transfer. */
  alpha: number;
  labels: LabelMap;
  checkpoint: string;
  files: SubmissionFiles;
  /** Accuracy of the files on the carved-off test part (ImageFolder data only). */
  scores?: Scores;
}

/**
 * The recipe end to end: stages 1-3, submissions, pseudo-label transfer, final submissions.
 *
 * @example
 * ```ts
 * const summary = await reproduce({ data, weights, out: "data/runs/mine", preset: PRESETS.cpu });
 * console.log(summary.scores?.after?.blend);
 * ```
 */
export async function reproduce(options: ReproduceOptions): Promise<ReproduceSummary> {
  const r = await openReproduction(options);
  try {
    // A finished job run again reports what it stored and rewrites nothing.
    const finished = await r.finished();
    if (finished) return finished;
    await r.trainBase();
    const before = await r.predictTest("before");
    let after: TestPredictions | undefined;
    let pseudo: LabelledImage[] = [];
    // A preset without transfer stages (quick) stops after the first submissions; a budget with
    // no time left for the smallest transfer skips it.
    const stages = r.transfers ? await r.transferStages() : [];
    if (stages.length) {
      pseudo = r.pseudoLabels(before);
      await r.transfer(pseudo, undefined, stages);
      after = await r.predictTest("after");
    }
    return await r.writeSummary(before, after, pseudo.length);
  } finally {
    await r.close();
  }
}

/**
 * Checks the inputs and the folder, and locks it: the steps of `reproduce`, one call each.
 *
 * @example
 * ```ts
 * const r = await openReproduction({ data, weights, out, preset: PRESETS.cpu });
 * await r.trainBase();
 * const before = await r.predictTest("before");
 * await r.transfer(r.pseudoLabels(before));
 * const after = await r.predictTest("after");
 * await r.close();
 * ```
 */
export async function openReproduction(options: ReproduceOptions): Promise<Reproduction> {
  await holderOf("reproduction", options.out)?.release();
  const { out, flip, threshold, transfer, ...runOptions } = options;
  // Listed and read once: the job's two runs and its checks use these.
  const { listing, pretrained } = await preflight(options);
  const owned = options.pretrained ? undefined : pretrained;
  let lock: RunLock | undefined;
  let job: JobSettings;
  try {
    // Left out, a setting is what the folder was made with, or the default (flip: the preset's).
    job = await settleSettings<JobSettings>(out, { flip, threshold, transfer }, {
      flip: presetFlip(options.preset),
      threshold: DEFAULTS.threshold,
      transfer: DEFAULTS.transfer,
    });
    lock = await lockRunFolder(out);
    await removeStaleTemporaries(out, false);
    await removeStaleTemporaries(jobFiles(out).submissions);
  } catch (error) {
    await lock?.release();
    if (owned) disposePretrained(owned);
    throw error;
  }
  resetPhases();
  const reproduction = new Reproduction(
    { ...runOptions, listing, pretrained, out },
    job,
    lock,
    owned,
  );
  await replaceHolder("reproduction", out, { release: () => reproduction.close() });
  return reproduction;
}

export class Reproduction {
  readonly out: string;
  /** What its training runs share (each gets its own `out`). */
  readonly #options: TrainOptions;
  readonly #job: JobSettings;
  readonly #lock: RunLock;
  readonly #started = performance.now();
  #base?: TrainResult;
  #closed = false;
  #cache?: ImageCache;
  /** Lines for the summary's end (`ReproduceSummary.notes`). */
  readonly #notes: string[] = [];

  /** The weights the job read itself, freed when it closes. */
  readonly #ownWeights?: PretrainedWeights;

  constructor(
    options: TrainOptions,
    job: JobSettings,
    lock: RunLock,
    ownWeights?: PretrainedWeights,
  ) {
    this.#options = options;
    this.#job = job;
    this.#lock = lock;
    this.#ownWeights = ownWeights;
    this.out = options.out;
  }

  get #log(): (line: string) => void {
    return this.#options.log ?? logLine;
  }

  /** Whether the transfer step runs (the preset has transfer stages and it was not switched off). */
  get transfers(): boolean {
    return this.#job.transfer && this.#options.preset.transferStages.length > 0;
  }

  #train(extra: Partial<TrainOptions> & { out: string }): Promise<TrainResult> {
    return train({ ...this.#options, log: this.#log, ...extra });
  }

  /** Stages 1-3 in `train/` (resumed when interrupted; a complete run is only loaded back). */
  async trainBase(): Promise<TrainResult> {
    if (this.#base) return this.#base;
    this.#checkOpen();
    this.#log("== stages 1-3");
    const base = await this.#train({ out: jobFiles(this.out).train });
    const unreadable = base.data.unreadableTest.length;
    if (unreadable) {
      this.#log(
        `${unreadable} test photo(s) could not be read (listed in ${
          runFiles(jobFiles(this.out).train).skipped
        }); their submission lines are the most frequent training class`,
      );
    }
    return this.#base = base;
  }

  /**
   * The summary of a finished job (`summary.json`, with every file it names in place, and the
   * training run's folder still this job's), or undefined when there is work left.
   */
  async finished(): Promise<ReproduceSummary | undefined> {
    this.#checkOpen();
    const stored = await this.#storedSummary();
    if (!stored) return undefined;
    await checkRun({ ...this.#options, out: jobFiles(this.out).train });
    this.#log(`complete: ${jobFiles(this.out).summary} (the same command reports it again)`);
    return { ...stored, stored: true };
  }

  /** summary.json when the job finished: its files all there. */
  async #storedSummary(): Promise<ReproduceSummary | undefined> {
    const file = jobFiles(this.out).summary;
    const stored = await readJsonIfAny<ReproduceSummary>(
      file,
      "remove it: the same command makes it again from the job's files",
    );
    if (!stored?.before || typeof stored.checkpoint !== "string") return undefined;
    const files = [
      ...Object.values(stored.before),
      ...Object.values(stored.after ?? {}),
      stored.checkpoint,
    ];
    for (const path of files) if (!(await exists(path))) return undefined;
    return stored;
  }

  /** The best checkpoint of stages 1-3: its weights start the transfer, its alpha blends every
   * submission. */
  async #best(): Promise<{ path: string; meta: CheckpointMeta }> {
    const { best } = await this.trainBase();
    if (!best) {
      throw new DataError(jobFiles(this.out).train, "no complete checkpoint (train first)");
    }
    return best;
  }

  /** The test photos predicted by the best checkpoint ("before") or by the transfer's last
   * ("after"), written as the three submission files and scored where the answers are known. */
  async predictTest(when: "before" | "after"): Promise<TestPredictions> {
    this.#checkOpen();
    const base = await this.trainBase();
    if (when === "before") await this.#checkBest();
    const alpha = (await this.#best()).meta.metrics.alpha;
    const run = when === "before"
      ? await loadRun(jobFiles(this.out).train, "best")
      : await loadRun(jobFiles(this.out).transfer, "latest");
    const testIds = base.data.test.map((t) => t.id);
    this.#log(`== prediction of ${testIds.length} test photos with ${run.checkpoint.path}`);
    this.#cache ??= await cacheImages(base.data.test, {
      size: this.#options.preset.backbone.size,
      dir: this.#options.cacheDir,
    });
    const predicted = await timed(
      "test predictions",
      () => predictPhotos(run.model, this.#cache!, testIds, { flip: this.#job.flip }),
    );
    const [ids, probs] = this.#withFallback(base, testIds, predicted);
    const dir = when === "before"
      ? jobFiles(this.out).beforeTransfer
      : jobFiles(this.out).submissions;
    const files = await writeSubmissions(dir, ids, probs, alpha, run.labels);
    const answers = base.data.testAnswers.length
      ? runFiles(jobFiles(this.out).train).testAnswers
      : undefined;
    const scores = answers ? await scoreAll(files, answers) : undefined;
    return {
      ids,
      probs,
      alpha,
      labels: run.labels,
      checkpoint: run.checkpoint.path,
      files,
      scores,
    };
  }

  /**
   * Before the first file is written from it: the best checkpoint loads, and the transfer (when
   * one started) started from it. Each refusal names a remedy that works as written.
   */
  async #checkBest(): Promise<void> {
    const best = await this.#best();
    const parts = jobFiles(this.out);
    const made = [];
    for (const dir of [parts.transfer, parts.submissions]) if (await exists(dir)) made.push(dir);
    const fromIt = made.length ? ` together with ${made.join(" and ")} (made from it)` : "";
    const damage = await checkpointDamage(best.path);
    if (damage) {
      throw new DataError(
        damage.file,
        `${damage.damage}; it is this job's best checkpoint: restore it from a backup, or ` +
          `remove ${best.path}${fromIt}, and the same command goes on from the next best`,
      );
    }
    const transfer = await readRunConfig(parts.transfer).catch(() => undefined);
    const init = transfer?.identity?.settings?.init;
    if (typeof init === "string" && init !== basename(best.path)) {
      throw new DataError(
        runFiles(parts.transfer).config,
        `the transfer started from ${init}, and this job's best checkpoint is now ` +
          `${basename(best.path)}: restore ${init} from a backup, or remove ${
            made.join(" and ")
          } ` +
          "to predict and transfer again from the best",
      );
    }
  }

  /** Every test id gets a line: photos that did not decode get the class prior. */
  #withFallback(base: TrainResult, ids: string[], probs: Probabilities) {
    const unreadable = base.data.unreadableTest.map((t) => t.id);
    const { labels, train: photos } = base.data;
    const prior = classPrior(photos.map((t) => labels.toIndex(t.label)), labels.size);
    return withFallback(ids, probs, unreadable, prior);
  }

  /** The test photos that decoded, labelled by the blend (the confident ones with a threshold). */
  pseudoLabels(before: TestPredictions): LabelledImage[] {
    this.#checkOpen();
    const test = this.#base?.data.test ?? [];
    const { threshold } = this.#job;
    return pseudoLabels(test, before, before.alpha, threshold, (i) => before.labels.toLabel(i));
  }

  /** Fine-tunes the best checkpoint again with the pseudo-labelled photos (`transfer/`), in the
   * preset's transfer stages (fitted to a `--minutes` budget), or in `stages`. */
  async transfer(
    pseudo: LabelledImage[],
    callbacks?: Callback[],
    stages?: StageSpec[],
  ): Promise<TrainResult> {
    const options = await this.#transferOptions(pseudo, stages);
    const base = await this.trainBase();
    this.#log(
      `== transfer: ${pseudo.length} pseudo-labelled test photos join ${
        base.data.train.length + base.data.val.length
      } labelled ones`,
    );
    return await this.#train({ ...options, ...(callbacks ? { callbacks } : {}) });
  }

  /** The transfer's run (`transfer/`), open and not trained: its batches and one step can be
   * looked at (notebook 05) before `transfer` trains it with the same options (close it before:
   * the folder has one holder at a time). */
  async openTransfer(pseudo: LabelledImage[], stages?: StageSpec[]): Promise<TrainingRun> {
    return await openRun({
      ...this.#options,
      log: this.#log,
      ...await this.#transferOptions(pseudo, stages),
    });
  }

  async #transferOptions(
    pseudo: LabelledImage[],
    stages?: StageSpec[],
  ): Promise<Partial<TrainOptions> & { out: string }> {
    this.#checkOpen();
    return {
      out: jobFiles(this.out).transfer,
      stages: stages ?? await this.transferStages(),
      init: (await this.#best()).path,
      pseudo,
      trainOnVal: true,
      job: { flip: this.#job.flip, threshold: this.#job.threshold },
    };
  }

  /**
   * The transfer's stages: the preset's, or under `--minutes` its steps fitted to the time left at
   * the pace stages 1-3 kept (`refitTransfer`), written before the transfer starts so that a
   * resumed job trains the same ones. A job resumed before its transfer keeps the planned steps:
   * its pace is unknown. None when the command's clock (`budgetClock`) leaves no time for even
   * the smallest transfer: the job then ends with the before-transfer files, and says so.
   */
  async transferStages(): Promise<StageSpec[]> {
    this.#checkOpen();
    const base = await this.trainBase();
    const { preset, budgetClock } = this.#options;
    if (!preset.budget) return preset.transferStages;
    const file = jobFiles(this.out).transferFit;
    const saved = await readJsonIfAny<TransferFit & { skipped?: boolean }>(
      file,
      "remove it to fit the transfer again (or the whole folder to start over)",
    );
    if (saved) return saved.skipped ? [] : saved.stages;
    const fit = base.resumedFrom === undefined
      ? refitTransfer(
        { ...preset, budget: preset.budget, stages: base.stages },
        workloadOf(base.data, { flip: this.#job.flip, transfer: true, predicts: true }),
        (performance.now() - (budgetClock?.start ?? this.#started)) / 1000,
      )
      : { factor: 1, stages: preset.transferStages };
    const skipped = "pace" in fit && !fit.fits && budgetClock !== undefined;
    if ("pace" in fit) {
      const head = paceLine(preset.budget.minutes, fit);
      this.#log(
        skipped
          ? head + `not even x${MIN_TRANSFER_FACTOR} of the transfer's steps end in time: the ` +
            "transfer is skipped, and the before-transfer files are the final ones"
          : head +
            `the transfer gets ${
              fit.stages.map((s) => s.stepsPerRound).join("/")
            } steps per round (x${fit.factor}) to end in time`,
      );
    }
    await writeTextAtomic(file, JSON.stringify({ ...fit, skipped }, null, 1));
    if (skipped) this.#notes.push("transfer skipped: no time left in the budget");
    return skipped ? [] : fit.stages;
  }

  /** `summary.json`: what the run produced, for `deno task reproduce` to print. A job that had
   * finished keeps the summary it wrote then (its wall time, not a re-run's). */
  async writeSummary(
    before: TestPredictions,
    after: TestPredictions | undefined,
    pseudoLabels: number,
  ): Promise<ReproduceSummary> {
    const best = await this.#best();
    const stored = await this.#storedSummary();
    if (stored?.checkpoint === best.path && stored.settings) return { ...stored, stored: true };
    const { main, aux, blend } = best.meta.metrics;
    const seconds = (performance.now() - this.#started) / 1000;
    const phases = phaseTimes();
    const covered = Object.values(phases).reduce((a, b) => a + b, 0);
    const [was, now] = [before.scores?.blend, after?.scores?.blend];
    if (was !== undefined && now !== undefined && now < was) {
      this.#notes.push(
        `the transfer lowered the test part's blend accuracy from ${percent(was)} to ` +
          `${percent(now)}: the before-transfer files are in ${jobFiles(this.out).beforeTransfer}`,
      );
    }
    const summary: ReproduceSummary = {
      alpha: before.alpha,
      validation: { main, aux, blend },
      checkpoint: best.path,
      before: before.files,
      after: after?.files,
      pseudoLabels,
      scores: before.scores ? { before: before.scores, after: after?.scores } : undefined,
      seconds,
      phases: { ...phases, other: Math.max(0, seconds - covered) },
      budget: this.#options.preset.budget,
      settings: this.#job,
      ...(this.#notes.length ? { notes: [...this.#notes] } : {}),
    };
    await writeTextAtomic(jobFiles(this.out).summary, JSON.stringify(summary, null, 1));
    return summary;
  }

  /** One rule with `TrainingRun`: a closed handle refuses to work (open it again). */
  #checkOpen(): void {
    if (this.#closed) {
      throw new UsageError(`the reproduction in ${this.out} is closed: open it again`);
    }
  }

  async close(): Promise<void> {
    if (!this.#closed && this.#ownWeights) disposePretrained(this.#ownWeights);
    this.#closed = true;
    this.#cache?.close();
    this.#cache = undefined;
    await this.#lock.release();
  }
}

async function scoreAll(files: SubmissionFiles, answers: string): Promise<Scores> {
  return {
    main: (await scoreSubmission(files.main, answers)).accuracy,
    aux: (await scoreSubmission(files.aux, answers)).accuracy,
    blend: (await scoreSubmission(files.blend, answers)).accuracy,
  };
}
