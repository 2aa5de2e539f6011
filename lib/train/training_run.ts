/**
 * An open run folder, trained one stage at a time: `trainStage(n)` runs stage n's remaining rounds
 * (earlier stages first when they are not complete). It resumes after the last complete
 * checkpoint: batches are a pure function of (seed, step) and the optimizer state is in the
 * checkpoint, so a resumed run continues the very same stream; a damaged last checkpoint is set
 * aside and the one before used. Every stage starts from the weights on disk (or, before the first
 * checkpoint, from those the run opened with), so a stage trained in one notebook session and one
 * trained after a restart are the same. Opened by `openRun` (run.ts).
 */
import { type StepByHand, stepByHand } from "./step_by_hand.ts";
import { basename, join } from "node:path";
import { stoppable } from "../stop.ts";
import { type PreparedData } from "../data/prepare.ts";
import type { DatasetListing, LabelledImage } from "../data/dataset.ts";
import { UsageError } from "../errors.ts";
import type { PolicyName } from "../augment/policy.ts";
import { POLICIES } from "../augment/policy.ts";
import { type Backbone } from "../model/index.ts";
import { disposeSeedModel, type SeedModel } from "../model/seed_model.ts";
import {
  bestOf,
  type CheckpointMeta,
  checkpointProblem,
  listCheckpoints,
  loadCheckpoint,
  type Snapshot,
  snapshot,
} from "../run/checkpoint.ts";
import { type ResolvedRunSettings, type RunConfig, type RunSettings } from "../run/config.ts";
import { type RunLock } from "../run/folder.ts";
import { type HistoryRow, readHistory } from "../run/history.ts";
import { checkpointCallback, metricsLogCallback } from "./callbacks.ts";
import type { Callback } from "./round.ts";
import {
  disposeOptimizer,
  lossOnBatch,
  makeOptimizer,
  prepareStage,
  type StepLoss,
} from "./step.ts";
import { type LrFindOptions, type LrFindResult, sweepLearningRates } from "./lr_find.ts";
import { stepRecipe } from "./mix.ts";
import { validate } from "./validate.ts";
import type { Batch } from "../augment/batch.ts";
import type { Sample } from "../augment/sampler.ts";
import { planStages, runStage, type StagePlan, stoppedEarly } from "./stage.ts";
import { StageInputs } from "./stage_inputs.ts";
import { DAMAGED_PREFIX, runFiles } from "../layout.ts";
import { readJsonIfAny, writeTextAtomic } from "../files.ts";
import type { StageSpec } from "../run/presets.ts";
import { paceLine, refitStages, type StageFit, workloadOf } from "./budget.ts";
import type { PretrainedWeights } from "../model/pretrained.ts";

export interface TrainOptions extends RunSettings {
  /** Run folder: split files, checkpoints/, metrics.csv. */
  out: string;
  cacheDir?: string;
  callbacks?: Callback[];
  log?: (line: string) => void;
  /** Trunk workers in cached mode (default: one per core on wasm/cpu, else none). */
  trunkWorkers?: number;
  /** Progress bars for decoding and trunk caching (default true). */
  progress?: boolean;
  /**
   * Under a `--minutes` plan, the command's clock: when it started (`performance.now()`, 0 for
   * the process's start) and what else the job does after the stages. The stages after the first
   * are then refitted at their boundaries to the time left (`refitStages`). Notebooks leave it
   * out: a reader's pauses are not the machine's pace.
   */
  budgetClock?: { start: number; job?: { flip: boolean; transfer: boolean } };
  /** The dataset as listed already (a job lists it once for its plan and both of its runs). */
  listing?: DatasetListing;
  /** The `weights` as read already (a job reads them once, before it writes anything, for both
   * of its runs); the caller frees them. */
  pretrained?: PretrainedWeights;
}

export interface TrainResult {
  model: SeedModel;
  data: PreparedData;
  history: HistoryRow[];
  best?: { path: string; meta: CheckpointMeta };
  seconds: number;
  resumedFrom?: number;
  /** The stages as trained (a `--minutes` run: as refitted at their boundaries). */
  stages: StageSpec[];
}

export interface RunParts {
  config: RunConfig;
  data: PreparedData;
  backbone: Backbone;
  model: SeedModel;
  /** The pretrained weights' file (trunk workers load it themselves). */
  weights: string;
  lock: RunLock;
  log: (line: string) => void;
  /** The forward engine of frozen passes (see lib/engine/onnx.ts). */
  engine: { name: "onnxruntime" | "tfjs"; threads: number };
}

/** An open run folder: its model, data and stages, trained one stage at a time. */
export class TrainingRun {
  readonly model: SeedModel;
  readonly data: PreparedData;
  readonly config: RunConfig;
  #stages: StagePlan[];
  /** One row per complete round, read back on resume and extended as rounds end. */
  readonly history: HistoryRow[] = [];
  readonly out: string;
  /** The round the run resumed after when it was opened (undefined: it started fresh). */
  resumedFrom?: number;
  readonly #options: ResolvedRunSettings<TrainOptions>;
  readonly #parts: RunParts;
  readonly #inputs: StageInputs;
  readonly #callbacks: Callback[];
  readonly #started = performance.now();
  /** The weights before the first checkpoint, for a stage that starts over after a failure. */
  #initial?: Snapshot;
  #closed = false;
  #disposed = false;

  constructor(options: ResolvedRunSettings<TrainOptions>, parts: RunParts) {
    this.#options = options;
    this.#parts = parts;
    ({ model: this.model, data: this.data, config: this.config } = parts);
    this.out = options.out;
    this.#stages = planStages(options.stages ?? options.preset.stages);
    const { data, backbone, weights } = parts;
    this.#inputs = new StageInputs({
      preset: options.preset,
      seed: options.seed,
      backbone,
      weights,
      cache: data.cache!,
      labels: data.labels,
      val: data.val.map((p) => ({ id: p.id, label: data.labels.toIndex(p.label) })),
      pool: (policy) => trainingPool(policy, data, options),
      without: options.without,
      sampler: options.sampler,
      trunkWorkers: options.trunkWorkers,
      progress: options.progress,
      model: parts.model,
      head: parts.model.head,
      lossWeights: parts.config.lossWeights,
      log: parts.log,
      engine: parts.engine,
      stages: this.stages,
    });
    this.#callbacks = [
      metricsLogCallback(options.out, this.history),
      checkpointCallback(this.#checkpoints, this.model, () => this.#started),
    ];
  }

  /** The run's stages and where their steps start (a `--minutes` run: as refitted so far). */
  get stages(): readonly StagePlan[] {
    return this.#stages;
  }

  get #checkpoints(): string {
    return runFiles(this.out).checkpoints;
  }

  /**
   * Reads the history up to the last sound checkpoint and loads its weights (a run opened on a
   * finished folder holds the trained model from the start: its validation, loss terms and
   * blend grid are the record's), or starts from `init`.
   */
  async findResumePoint(): Promise<void> {
    await this.#setAsideDamaged();
    const fits = await this.#stageFits();
    if (fits.length) this.#replan(fits.at(-1)!.stages);
    const latest = await this.#latest();
    // The run's starting weights (stage 1 starts from them: a stage that starts over after a
    // failure, the learning-rate finder), taken before a checkpoint replaces them.
    // With `init` and a checkpoint, a stage that starts over reads `init` again.
    if (!this.#options.init) this.#initial ??= snapshot(this.model);
    if (latest) {
      await loadCheckpoint(latest.path, this.model);
      this.history.push(...await readHistory(this.out, latest.meta.round));
      this.resumedFrom = latest.meta.round;
      const last = this.stages.at(-1)?.lastRound ?? 0;
      const complete = this.stages.length > 0 && await this.#complete(this.stages.at(-1)!);
      this.#parts.log(
        complete
          ? `complete: ${
            latest.meta.round >= last ? `all ${last}` : latest.meta.round
          } rounds trained (${latest.path})`
          : `resuming after round ${latest.meta.round} (${latest.path})`,
      );
    } else if (this.#options.init) {
      await loadCheckpoint(this.#options.init, this.model);
      this.#parts.log(`starting from ${this.#options.init}`);
      this.#initial ??= snapshot(this.model);
    }
  }

  /**
   * fastai's learning-rate finder on stage n (lib/train/lr_find.ts): an exponential sweep of the
   * stage's optimizer from the weights the stage starts from (earlier stages trained first when
   * they are not complete), on the batches it reads. The run's weights and files are as before.
   */
  async findLearningRate(
    n: number | string = 1,
    options: LrFindOptions = {},
  ): Promise<LrFindResult> {
    return await stoppable(() => this.#findLearningRate(n, options));
  }

  async #findLearningRate(n: number | string, options: LrFindOptions): Promise<LrFindResult> {
    this.#checkOpen();
    const plan = this.stage(n);
    for (const earlier of this.stages.slice(0, plan.index)) {
      if (!await this.#complete(earlier)) await this.#train(earlier, []);
    }
    const now = snapshot(this.model);
    const optimizer = makeOptimizer(plan.spec.optimizer);
    let data;
    let native;
    try {
      await this.#loadStageStart(plan);
      prepareStage(this.model, plan.spec);
      data = await this.#inputs.forStage(plan.spec);
      native = await data.nativeStep?.(plan.spec);
      return await sweepLearningRates({
        model: this.model,
        source: data.source,
        optimizer,
        native,
        lossWeights: this.config.lossWeights,
        recipe: stepRecipe(this.#options.preset, this.#options.seed),
        firstStep: plan.firstStep,
      }, options);
    } finally {
      await native?.release();
      data?.release();
      disposeOptimizer(optimizer);
      now.restore();
      now.dispose();
    }
  }

  /** The weights stage `plan` starts from: the last checkpoint before it, else the run's start. */
  async #loadStageStart(plan: StagePlan): Promise<void> {
    const before = (await listCheckpoints(this.#checkpoints))
      .filter((c) => c.meta.round < plan.firstRound).at(-1);
    if (before) await loadCheckpoint(before.path, this.model);
    else if (this.#initial) this.#initial.restore();
    else if (this.#options.init) await loadCheckpoint(this.#options.init, this.model);
  }

  /** Stage n (1-based), or the stage of that name. */
  stage(n: number | string): StagePlan {
    const plan = typeof n === "number"
      ? this.stages[n - 1]
      : this.stages.find((s) => s.spec.name === n);
    if (!plan) {
      const names = this.stages.map((s, i) => `${i + 1} (${s.spec.name})`).join(", ");
      throw new UsageError(`no stage ${JSON.stringify(n)} in this run; its stages: ${names}`);
    }
    return plan;
  }

  /** Rounds with a complete checkpoint on disk. */
  async completedRounds(): Promise<number> {
    return (await this.#latest())?.meta.round ?? 0;
  }

  /**
   * Trains stage n's remaining rounds (none when it is complete) and returns its history rows.
   * Earlier stages that are not complete are trained first.
   */
  async trainStage(n: number | string, extra: { callbacks?: Callback[] } = {}): Promise<
    HistoryRow[]
  > {
    return await stoppable(() => this.#trainStage(n, extra));
  }

  async #trainStage(n: number | string, extra: { callbacks?: Callback[] }): Promise<
    HistoryRow[]
  > {
    this.#checkOpen();
    const { index } = this.stage(n);
    for (let i = 0; i < index; i++) {
      const earlier = this.#stages[i];
      if (!await this.#complete(earlier)) {
        this.#parts.log(
          `stage ${i + 1} (${earlier.spec.name}) is not complete: training it first`,
        );
        await this.#fitAndTrain(i, extra.callbacks ?? []);
      }
    }
    await this.#fitAndTrain(index, extra.callbacks ?? []);
    const plan = this.#stages[index];
    return this.history.filter((h) => h.round >= plan.firstRound && h.round <= plan.lastRound);
  }

  /** Stage i, refitted first under `--minutes` (the plan read after the fit, never before). */
  async #fitAndTrain(i: number, callbacks: Callback[]): Promise<void> {
    await this.#refit(this.#stages[i]);
    await this.#train(this.#stages[i], callbacks);
  }

  /** The three loss terms on the k-th batch of stage n (its first by default), without a step:
   * what the recipe optimises. */
  async lossTerms(n: number | string = 1, k = 0): Promise<StepLoss> {
    this.#checkOpen();
    const plan = this.stage(n);
    const data = await this.#inputs.oneBatch(plan.spec, plan.firstStep + k);
    try {
      return await lossOnBatch(
        this.model,
        data.source,
        plan.firstStep + k,
        this.config.lossWeights,
      );
    } finally {
      data.release();
    }
  }

  /** Stage n's step k (its first by default) taken by hand and then through the API, from the
   * same weights, which are put back after (step_by_hand.ts): nothing of the run changes. */
  async stepByHand(n: number | string = 1, k = 0): Promise<StepByHand> {
    this.#checkOpen();
    const plan = this.stage(n);
    prepareStage(this.model, plan.spec);
    const data = await this.#inputs.oneBatch(plan.spec, plan.firstStep + k);
    try {
      return await stepByHand(
        this.model,
        data.source,
        plan.firstStep + k,
        plan.spec.optimizer,
        this.config.lossWeights,
      );
    } finally {
      data.release();
    }
  }

  /** The augmented photos of stage n's step k (its first by default), as the sampler makes them:
   * 16 breeds x 2 photos for the seed's batches. */
  photos(n: number | string = 1, k = 0): Batch {
    this.#checkOpen();
    const plan = this.stage(n);
    return this.#inputs.photos(plan.spec, plan.firstStep + k);
  }

  /** Which photos `photos(n, k)` shows (ids, two for a splice), in the same order. */
  samples(n: number | string = 1, k = 0): Sample[] {
    this.#checkOpen();
    const plan = this.stage(n);
    return this.#inputs.samples(plan.spec, plan.firstStep + k);
  }

  /** Stage n's validation pass with the weights of the moment (after a stage: its last round's):
   * both heads' accuracy, the blend grid's best alpha, and the probabilities behind them. */
  async validation(
    n: number | string = 1,
  ): Promise<Awaited<ReturnType<typeof validate>> & { labels: Int32Array }> {
    this.#checkOpen();
    const data = await this.#inputs.validation(this.stage(n).spec);
    try {
      const result = await validate(this.model, data.val, data.valPart, data.valRunner);
      return { ...result, labels: data.val.labels };
    } finally {
      data.release();
    }
  }

  async result(): Promise<TrainResult> {
    return {
      model: this.model,
      data: this.data,
      history: this.history,
      best: bestOf(await listCheckpoints(this.#checkpoints)),
      seconds: (performance.now() - this.#started) / 1000,
      resumedFrom: this.resumedFrom,
      stages: this.#stages.map((s) => s.spec),
    };
  }

  /** Releases the workers, caches and the folder's lock; the model stays usable. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#inputs.close();
      this.data.cache?.close();
      this.#initial?.dispose();
    } finally {
      await this.#parts.lock.release();
    }
  }

  /** `close()`, and the model's tensors too (what opening the folder again does to this run). */
  async dispose(): Promise<void> {
    await this.close();
    if (this.#disposed) return;
    this.#disposed = true;
    disposeSeedModel(this.model);
  }

  #checkOpen(): void {
    if (this.#closed) throw new UsageError(`the run in ${this.out} is closed: open it again`);
  }

  /** The validation blend of each of the stage's rounds in the history. */
  #blends(plan: StagePlan): number[] {
    return this.history.filter((h) => h.round >= plan.firstRound && h.round <= plan.lastRound)
      .map((h) => h.metrics.blend);
  }

  /**
   * Under `--minutes` with the command's clock: before a later stage starts, its steps and those
   * after it are refitted to the time left at the pace kept so far, and the fit is written down
   * (a resumed run trains the fitted stages; its own pace is unknown, so it fits nothing new).
   */
  async #refit(plan: StagePlan): Promise<void> {
    const { preset, budgetClock: clock } = this.#options;
    if (!preset.budget || !clock || this.#options.stages || plan.index === 0) return;
    if (this.resumedFrom !== undefined || await this.completedRounds() >= plan.firstRound) return;
    const fits = await this.#stageFits();
    if (fits.some((f) => f.stage >= plan.index)) return;
    const fit = refitStages(
      { ...preset, budget: preset.budget },
      this.#stages.map((s) => s.spec),
      plan.index,
      workloadOf(this.data, {
        flip: clock.job?.flip ?? false,
        transfer: (clock.job?.transfer ?? false) && preset.transferStages.length > 0,
        predicts: clock.job !== undefined,
      }),
      (performance.now() - clock.start) / 1000,
    );
    await writeTextAtomic(runFiles(this.out).stageFits, JSON.stringify([...fits, fit], null, 1));
    this.#replan(fit.stages);
    const later = fit.stages.slice(plan.index).map((s) => s.stepsPerRound).join("/");
    const which = plan.index + 1 === fit.stages.length
      ? `stage ${plan.index + 1} gets`
      : `stages ${plan.index + 1}-${fit.stages.length} get`;
    this.#parts.log(
      paceLine(preset.budget.minutes, fit) +
        `${which} ${later} steps per round (x${fit.factor}) to end in time`,
    );
  }

  /** The stage fits the run folder holds (none outside `--minutes`). */
  async #stageFits(): Promise<StageFit[]> {
    return await readJsonIfAny<StageFit[]>(
      runFiles(this.out).stageFits,
      "remove the run folder to start over (the steps its later stages trained are in it)",
    ) ?? [];
  }

  #replan(stages: StageSpec[]): void {
    this.#stages = planStages(stages);
    this.#inputs.replan(this.#stages);
  }

  /** Whether stage `plan` is done: all its rounds trained, or stopped early (its patience). */
  async #complete(plan: StagePlan): Promise<boolean> {
    const done = await this.completedRounds();
    if (done >= plan.lastRound) return true;
    return done >= plan.firstRound && stoppedEarly(this.#blends(plan), plan.spec.patience);
  }

  async #latest() {
    return (await listCheckpoints(this.#checkpoints)).at(-1);
  }

  /** A damaged last checkpoint (truncated weights, a bad copy) is moved aside, kept for a look,
   * and the run resumes from the one before; so on, until one is sound. */
  async #setAsideDamaged(): Promise<void> {
    for (let latest = await this.#latest(); latest; latest = await this.#latest()) {
      const problem = await checkpointProblem(latest.path);
      if (!problem) return;
      const aside = join(this.#checkpoints, DAMAGED_PREFIX + basename(latest.path));
      await Deno.remove(aside, { recursive: true }).catch(() => {});
      await Deno.rename(latest.path, aside);
      this.#parts.log(
        `${problem.split(";")[0]}: set aside as ${aside}; going back to the one before`,
      );
    }
  }

  /** One stage from where the folder stands: weights (and, mid-stage, optimizer state) from the
   * last checkpoint, or the starting weights before there is one. */
  async #train(plan: StagePlan, extra: Callback[]): Promise<void> {
    const latest = await this.#latest();
    const done = latest?.meta.round ?? 0;
    if (await this.#complete(plan)) return;
    const midStage = latest !== undefined && done >= plan.firstRound;
    if (!latest) {
      // findResumePoint took the starting weights when the folder had no checkpoint.
      this.#initial?.restore();
    } else if (!midStage) {
      await loadCheckpoint(latest.path, this.model); // a stage boundary: weights only
    }
    const data = await this.#inputs.forStage(plan.spec);
    try {
      await runStage({
        model: this.model,
        plan,
        data,
        startRound: Math.max(done + 1, plan.firstRound),
        totalRounds: this.stages.at(-1)!.lastRound,
        callbacks: [...(this.#options.callbacks ?? []), ...extra, ...this.#callbacks],
        lossWeights: this.config.lossWeights,
        recipe: stepRecipe(this.#options.preset, this.#options.seed),
        earlier: this.#blends(plan),
        log: this.#parts.log,
        ema: this.#options.preset.ema,
        valTrained: this.#options.trainOnVal,
        restore: midStage
          ? async (optimizer, average) =>
            void await loadCheckpoint(latest.path, this.model, optimizer, average)
          : undefined,
      });
    } finally {
      data.release();
    }
  }
}

/**
 * The photos a policy's batches are drawn from. The seed's `Transfer` policies draw from every
 * labelled photo (train and validation: `trainOnVal`) and the pseudo-labelled test photos; its
 * `Train` rounds, in the transfer too, from the training split alone (it hands them `train_data`).
 */
export function trainingPool(
  policy: PolicyName,
  data: Pick<PreparedData, "train" | "val">,
  options: Pick<TrainOptions, "pseudo" | "trainOnVal">,
): LabelledImage[] {
  if (!POLICIES[policy].pseudoLabels) return data.train;
  const labelled = options.trainOnVal ? [...data.train, ...data.val] : data.train;
  return [...labelled, ...(options.pseudo ?? [])];
}
