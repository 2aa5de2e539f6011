/**
 * A cheaper gradient for inference-mode BatchNormalization, the mode every fine-tuned backbone
 * layer runs in here (frozen statistics, trainable gamma/beta). tfjs' own gradient tiles
 * 1/sqrt(variance) to the full activation shape before multiplying, and computes x - mean up front
 * even when no gradient needs it; on wasm the tile alone was a fifth of a stage-2 step. This one
 * broadcasts a per-channel factor instead and does the full-size work only for the gradients
 * asked for. Same values (tested against tfjs' gradient); registered on import by `lib/tf.ts`.
 */
import * as tf from "@tensorflow/tfjs";

type Attrs = { varianceEpsilon: number };

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
    return {
      x: () => tf.mul(dY, tf.mul(rsqrt, gamma)),
      mean: () => reduce(tf.mul(dY, tf.neg(tf.mul(rsqrt, gamma)))),
      variance: () =>
        reduce(
          tf.mul(
            tf.mul(dY, tf.sub(x, mean)),
            tf.mul(tf.mul(tf.pow(rsqrt, tf.scalar(3)), tf.scalar(-0.5)), gamma),
          ),
        ),
      scale: () => tf.mul(reduce(tf.mul(dY, tf.sub(x, mean))), rsqrt),
      offset: () => reduce(dY),
    };
  },
});
