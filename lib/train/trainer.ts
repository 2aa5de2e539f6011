/**
 * The training loop, kept small: a stage is a list of rounds, a round is `stepsPerRound` steps
 * then a validation pass. Everything else — progress display, metric logs, checkpoints, the blend
 * search — are callbacks around it (the fastai way), so the loop reads as the recipe does.
 *
 * A step sees a batch of *inputs* to the trainable part of the network: images (end-to-end), the
 * frozen trunk's activations (cached mode, stages 2-3) or pooled features (cached mode, stage 1,
 * where the whole backbone is frozen).
 */
import { readValues, tf } from "../engine/tf.ts";
import type { SeedModel } from "../model/seed_model.ts";
import { type LossWeights, SEED_LOSS_WEIGHTS, seedLoss } from "../model/loss.ts";
import { freezeBackbone, trainableVariables, unfreezeFrom } from "../model/seed_model.ts";
import type { OptimizerSpec, StageSpec } from "../run/presets.ts";
import type { RoundMetrics } from "../run/checkpoint.ts";
import { searchBlend } from "../model/blend.ts";
import { type ActivationSet, sampleSize } from "./features.ts";
import { applyPart, type InferenceModel, type Part } from "../model/inference.ts";
import { type BatchRunner, runInChunks } from "../model/runner.ts";
import { timed } from "../phases.ts";
import { checkStop } from "../stop.ts";
import type { NativeStepper } from "./native_step.ts";

export interface StepLoss {
  total: number;
  main: number;
  center: number;
  aux: number;
}

/** A source of training batches for a stage: batch k is always the same. */
export interface BatchSource {
  /** [x, labels] of batch k; x is the input of `part` (or of the head when `part` is null). */
  batch(k: number): { x: tf.Tensor; labels: tf.Tensor1D };
  /** Maps inputs to pooled features; null when the inputs already are pooled features. */
  part: Part | null;
  /** A frozen model run on x before `part`, outside the gradient tape: nothing in it learns, so
   * recording its ops for backprop would only cost time and memory. */
  frozen?: InferenceModel;
}

/**
 * Batches cycled from an activation set (cached mode): step k reads stream batch k mod `cycle`
 * (default: the batches the set holds), found among those the set holds.
 */
export function activationSource(
  set: ActivationSet,
  batchSize: number,
  part: Part | null,
  cycle?: number,
): BatchSource {
  const perBatch = Math.floor(set.n / batchSize);
  if (perBatch < 1) throw new Error(`need at least ${batchSize} cached samples, have ${set.n}`);
  const size = sampleSize(set.shape);
  const slotOf = new Map((set.batches ?? [...Array(perBatch).keys()]).map((b, i) => [b, i]));
  const period = cycle ?? perBatch;
  return {
    part,
    batch(k) {
      const slot = slotOf.get(k % period);
      if (slot === undefined) throw new Error(`stream batch ${k % period} was not cached`);
      const start = slot * batchSize;
      return {
        x: tf.tensor(set.x.subarray(start * size, (start + batchSize) * size), [
          batchSize,
          ...set.shape,
        ]),
        labels: tf.tensor1d(set.labels.subarray(start, start + batchSize), "int32"),
      };
    },
  };
}

export function makeOptimizer(spec: OptimizerSpec): tf.Optimizer {
  return spec.kind === "adam"
    ? tf.train.adam(spec.learningRate)
    : tf.train.momentum(spec.learningRate, spec.momentum ?? 0.9);
}

/** Frees an optimizer's state. tfjs' `MomentumOptimizer.dispose` forgets the learning-rate scalar
 * its SGD base class keeps (one tensor per stage otherwise). */
export function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  if (optimizer instanceof tf.MomentumOptimizer) {
    const { c } = optimizer as unknown as { c?: tf.Tensor };
    if (c && !c.isDisposed) c.dispose();
  }
}

/** Freezes or unfreezes the backbone as the stage says. */
export function prepareStage(model: SeedModel, stage: StageSpec): void {
  if (stage.unfreeze) unfreezeFrom(model);
  else freezeBackbone(model);
}

/** Batch k as the trainable part's inputs: through the frozen model first when there is one.
 * (Call inside a tidy.) */
function inputsOf(source: BatchSource, k: number): { x: tf.Tensor; labels: tf.Tensor1D } {
  const { x, labels } = source.batch(k);
  return { x: source.frozen ? source.frozen.predict(x) : x, labels };
}

/** One optimisation step; returns the loss terms as numbers. Leaves no tensors behind. */
export async function trainStep(
  model: SeedModel,
  source: BatchSource,
  k: number,
  optimizer: tf.Optimizer,
  weights: LossWeights = SEED_LOSS_WEIGHTS,
): Promise<StepLoss> {
  const variables = trainableVariables(model);
  const values = await readValues(tf.tidy(() => {
    const { x, labels } = inputsOf(source, k);
    let kept: tf.Tensor[] = [];
    optimizer.minimize(
      () => {
        const features = applyPart(source.part, x);
        const outputs = model.head.apply(features, { training: true }) as tf.Tensor[];
        const terms = seedLoss(outputs, labels, model.centers, weights);
        kept = [terms.main, terms.center, terms.aux].map((t) => tf.keep(t));
        return terms.total;
      },
      false,
      variables,
    );
    const terms = tf.stack(kept);
    tf.dispose(kept);
    return terms;
  }));
  const [main, center, aux] = values;
  return { main, center, aux, total: main + weights.center * center + weights.aux * aux };
}

/** The loss terms on batch k, without a step (what the model sees before it trains). */
export async function lossOnBatch(
  model: SeedModel,
  source: BatchSource,
  k: number,
  weights: LossWeights = SEED_LOSS_WEIGHTS,
): Promise<StepLoss> {
  const [main, center, aux] = await readValues(tf.tidy(() => {
    const { x, labels } = inputsOf(source, k);
    const outputs = model.head.apply(applyPart(source.part, x), { training: false }) as tf.Tensor[];
    const terms = seedLoss(outputs, labels, model.centers, weights);
    return tf.stack([terms.main, terms.center, terms.aux]);
  }));
  return { main, center, aux, total: main + weights.center * center + weights.aux * aux };
}

/** Main and aux probabilities (row-major [n, classes]) for validation inputs, in chunks: through
 * `part` and the head on tfjs, or through `runner`, a native copy of both that gives the
 * probabilities itself. */
export async function predictProbabilities(
  model: SeedModel,
  set: ActivationSet,
  part: Part | null,
  chunk = 64,
  runner?: BatchRunner,
): Promise<{ main: Float32Array; aux: Float32Array }> {
  if (runner) {
    const [main, aux] = await runInChunks(runner, set.x, set.n, chunk);
    return { main, aux };
  }
  const classes = model.classes;
  const main = new Float32Array(set.n * classes);
  const aux = new Float32Array(set.n * classes);
  const size = sampleSize(set.shape);
  for (let start = 0; start < set.n; start += chunk) {
    const n = Math.min(chunk, set.n - start);
    const both = await readValues(tf.tidy(() => {
      const x = tf.tensor(set.x.subarray(start * size, (start + n) * size), [n, ...set.shape]);
      const features = applyPart(part, x);
      const [, mainLogits, auxLogits] = model.head.apply(features, {
        training: false,
      }) as tf.Tensor[];
      return tf.stack([tf.softmax(mainLogits), tf.softmax(auxLogits)]);
    }));
    main.set(both.subarray(0, n * classes), start * classes);
    aux.set(both.subarray(n * classes), start * classes);
  }
  return { main, aux };
}

/** The validation pass: both heads, the best blend, and the main head's loss. */
export async function validate(
  model: SeedModel,
  set: ActivationSet,
  part: Part | null,
  makeRunner?: () => Promise<BatchRunner>,
): Promise<
  Omit<RoundMetrics, "loss"> & { probabilities: { main: Float32Array; aux: Float32Array } }
> {
  // A native runner is written from the weights as they are now, and freed after.
  const runner = await makeRunner?.();
  let probabilities;
  try {
    probabilities = await predictProbabilities(model, set, part, 64, runner);
  } finally {
    await runner?.dispose();
  }
  const { main, aux } = probabilities;
  const search = searchBlend(main, aux, set.labels, model.classes);
  let valLoss = 0;
  for (let i = 0; i < set.n; i++) {
    valLoss -= Math.log(Math.max(main[i * model.classes + set.labels[i]], 1e-12));
  }
  return {
    main: search.curve[100].accuracy,
    aux: search.curve[0].accuracy,
    blend: search.accuracy,
    alpha: search.alpha,
    valLoss: valLoss / Math.max(set.n, 1),
    probabilities,
  };
}

// ---- the loop and its callbacks ----

export interface RoundInfo {
  stage: StageSpec;
  stageIndex: number;
  /** 1-based round number over the whole run. */
  round: number;
  totalRounds: number;
  /** Global step counter at the start of the round. */
  step: number;
}

export interface Callback {
  onRoundBegin?(info: RoundInfo): void | Promise<void>;
  onStep?(info: RoundInfo, stepInRound: number, loss: StepLoss): void | Promise<void>;
  onRoundEnd?(
    info: RoundInfo,
    metrics: RoundMetrics,
    optimizer: tf.Optimizer,
  ): void | Promise<void>;
}

/** What a round trains and validates on. */
export interface RoundData {
  source: BatchSource;
  val: ActivationSet;
  /** Maps `val` to pooled features (null: `val` already is pooled features). */
  valPart: Part | null;
  /** A native runner of valPart and the heads, made afresh for each validation pass. */
  valRunner?: () => Promise<BatchRunner>;
  /** Steps taken natively instead of `trainStep` (see native_step.ts). */
  native?: NativeStepper;
}

/** Runs one round: its steps (batches `info.step`, `info.step + 1`, ...) then validation. */
export async function runRound(
  model: SeedModel,
  info: RoundInfo,
  data: RoundData,
  optimizer: tf.Optimizer,
  callbacks: Callback[],
  weights: LossWeights = SEED_LOSS_WEIGHTS,
): Promise<RoundMetrics> {
  const { source, val, valPart } = data;
  for (const cb of callbacks) await cb.onRoundBegin?.(info);
  const sum = { total: 0, main: 0, center: 0, aux: 0 };
  const { native } = data;
  await timed("training steps", async () => {
    for (let s = 0; s < info.stage.stepsPerRound; s++) {
      const loss = native
        ? await native.step(info.step + s)
        : await trainStep(model, source, info.step + s, optimizer, weights);
      for (const key of Object.keys(sum) as (keyof StepLoss)[]) sum[key] += loss[key];
      for (const cb of callbacks) await cb.onStep?.(info, s + 1, loss);
      checkStop(`in round ${info.round}, after step ${s + 1}`);
    }
    // Validation and checkpoints read tfjs' variables and optimizer.
    await native?.store(optimizer);
  });
  const n = Math.max(info.stage.stepsPerRound, 1);
  const { probabilities: _, ...metrics } = await timed(
    "validation",
    () => validate(model, val, valPart, data.valRunner),
  );
  const result: RoundMetrics = {
    ...metrics,
    loss: { total: sum.total / n, main: sum.main / n, center: sum.center / n, aux: sum.aux / n },
  };
  await timed("checkpoints and logs", async () => {
    for (const cb of callbacks) await cb.onRoundEnd?.(info, result, optimizer);
  });
  return result;
}
