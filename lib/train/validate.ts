/**
 * How a round is validated: both heads' probabilities on the validation photos (on tfjs, or on a
 * native runner of the same weights), the seed's blend grid over them, and the main head's loss.
 */
import { readValues, tf } from "../engine/tf.ts";
import type { SeedModel } from "../model/seed_model.ts";
import type { RoundMetrics } from "../run/checkpoint.ts";
import { searchBlend } from "../model/blend.ts";
import { type ActivationSet, sampleSize } from "./features.ts";
import { applyPart, type Part } from "../model/inference.ts";
import { type BatchRunner, runInChunks } from "../model/runner.ts";

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
