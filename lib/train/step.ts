/**
 * How a step is taken: a batch of inputs to the trainable part of the network (images end to end,
 * the frozen trunk's activations in cached mode's stages 2-3, or pooled features in stage 1, where
 * the whole backbone is frozen), the seed's three-term loss, and one optimizer update.
 */
import { readValues, tf } from "../engine/tf.ts";
import type { SeedModel } from "../model/seed_model.ts";
import { type LossWeights, SEED_LOSS_WEIGHTS, seedLoss, type Targets } from "../model/loss.ts";
import { freezeBackbone, trainableVariables, unfreezeFrom } from "../model/seed_model.ts";
import type { OptimizerSpec, StageSpec } from "../run/presets.ts";
import { type ActivationSet, sampleSize } from "./features.ts";
import { applyPart, type InferenceModel, type Part } from "../model/inference.ts";
import { DEFAULTS } from "../defaults.ts";
import { batchMix, mixTensor, type StepRecipe } from "./mix.ts";

export interface StepLoss {
  total: number;
  main: number;
  center: number;
  aux: number;
}

/** A source of training batches for a stage: batch k is always the same. */
export interface BatchSource {
  /** [x, labels] of batch k; x is the input of `part` (or of the head when `part` is null). */
  batch(k: number): { x: tf.Tensor; labels: Int32Array };
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
        labels: set.labels.subarray(start, start + batchSize),
      };
    },
  };
}

export function makeOptimizer(spec: OptimizerSpec): tf.Optimizer {
  return spec.kind === "adam"
    ? tf.train.adam(spec.learningRate)
    : tf.train.momentum(spec.learningRate, spec.momentum ?? DEFAULTS.momentum);
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

/** Batch k as the trainable part's inputs (through the frozen model first when there is one),
 * mixed and with soft targets when the recipe asks, and the batch's labels. (Call inside a
 * tidy.) */
export function inputsOf(
  source: BatchSource,
  k: number,
  classes: number,
  recipe?: StepRecipe,
): { x: tf.Tensor; targets: Targets; labels: Int32Array } {
  const batch = source.batch(k);
  const x = source.frozen ? source.frozen.predict(batch.x) : batch.x;
  const { labels } = batch;
  const mix = batchMix(recipe, k, labels, classes, x.shape);
  if (!mix) return { x, targets: tf.tensor1d(labels, "int32"), labels };
  const dims = [labels.length, classes] as [number, number];
  return {
    labels,
    x: mix.plan ? mixTensor(x, mix.plan) : x,
    targets: {
      classes: tf.tensor2d(mix.targets.classes, dims),
      centres: tf.tensor2d(mix.targets.centres, dims),
    },
  };
}

/** Sets a tfjs optimizer's learning rate (a schedule's step). */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  // SGD and momentum keep the rate as a scalar tensor too: their setter remakes it.
  const sgd = optimizer as unknown as { setLearningRate?: (lr: number) => void };
  if (typeof sgd.setLearningRate === "function") sgd.setLearningRate(lr);
  else (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

/** One optimisation step; returns the loss terms as numbers. Leaves no tensors behind. */
export async function trainStep(
  model: SeedModel,
  source: BatchSource,
  k: number,
  optimizer: tf.Optimizer,
  weights: LossWeights = SEED_LOSS_WEIGHTS,
  recipe?: StepRecipe,
): Promise<StepLoss> {
  const variables = trainableVariables(model);
  const values = await readValues(tf.tidy(() => {
    const { x, targets } = inputsOf(source, k, model.classes, recipe);
    let kept: tf.Tensor[] = [];
    optimizer.minimize(
      () => {
        const features = applyPart(source.part, x);
        const outputs = model.head.apply(features, { training: true }) as tf.Tensor[];
        const terms = seedLoss(outputs, targets, model.centers, weights);
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
    const { x, targets } = inputsOf(source, k, model.classes);
    const outputs = model.head.apply(applyPart(source.part, x), { training: false }) as tf.Tensor[];
    const terms = seedLoss(outputs, targets, model.centers, weights);
    return tf.stack([terms.main, terms.center, terms.aux]);
  }));
  return { main, center, aux, total: main + weights.center * center + weights.aux * aux };
}
