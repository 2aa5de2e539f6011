/**
 * Cheaper gradients, same values, for two ops every fine-tuned MobileNet block runs (registered by
 * `initBackend`, for every backend):
 *
 * - BatchNormalization in inference mode (frozen statistics, trainable gamma/beta): tfjs tiles
 *   1/sqrt(variance) to the full activation shape before multiplying and computes x - mean even
 *   when no gradient needs it; on wasm the tile alone was a fifth of a stage-2 step. This one
 *   broadcasts a per-channel factor and does full-size work only for the gradients asked for.
 * - ClipByValue (Keras' ReLU6 is relu then clip): tfjs builds the mask from greaterEqual,
 *   lessEqual, logicalAnd and select, ~10 ms per activation map of a batch on wasm; the same
 *   inclusive mask from `step` and scalar arithmetic costs a fraction of that. One difference, on
 *   purpose: a NaN input gives a NaN gradient where tfjs' own gives 0 (`step` keeps NaN). A NaN
 *   activation means training has diverged; a NaN gradient shows it instead of hiding it, and
 *   making it 0 would cost two more passes over every activation map.
 */
import * as tf from "@tensorflow/tfjs";

type Attrs = { varianceEpsilon: number };

/** Puts the two gradients in place of tfjs' own, for every backend; called by `initBackend`. */
let registered = false;

export function registerGradients(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: tf.FusedBatchNorm,
    inputsToSave: ["x", "mean", "variance", "scale"],
    gradFunc: (dy, saved, attrs) => {
      const dY = dy as tf.Tensor;
      const [x, mean, variance, scale] = saved;
      const { varianceEpsilon } = attrs as unknown as Attrs;
      const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
      const reduce = (t: tf.Tensor) => tf.reshape(axes.length ? tf.sum(t, axes) : t, mean.shape);
      const rsqrt = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
      const gamma = scale ?? tf.scalar(1);
      const factor = tf.mul(rsqrt, gamma);
      // Full-size work happens once per gradient asked for; per-channel factors come after the sum.
      const centred = () => reduce(tf.mul(dY, tf.sub(x, mean)));
      return {
        x: () => tf.mul(dY, factor),
        mean: () => tf.neg(tf.mul(reduce(dY), factor)),
        variance: () => tf.mul(centred(), tf.mul(tf.mul(tf.pow(rsqrt, tf.scalar(3)), -0.5), gamma)),
        scale: () => tf.mul(centred(), rsqrt),
        offset: () => reduce(dY),
      };
    },
  });

  tf.registerGradient({
    kernelName: tf.ClipByValue,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const { clipValueMin: min, clipValueMax: max } = attrs as unknown as {
        clipValueMin: number;
        clipValueMax: number;
      };
      // min <= x <= max  <=>  1 - [x < min] - [x > max]  (the two cannot both hold).
      return {
        x: () => {
          const below = tf.step(tf.sub(min, x));
          const above = tf.step(tf.sub(x, max));
          return tf.mul(dy as tf.Tensor, tf.sub(tf.sub(1, below), above));
        },
      };
    },
  });
}
