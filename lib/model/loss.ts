/**
 * The seed's loss: softmax cross-entropy on the main head, plus 0.25 x center loss on the GLU
 * features, plus 0.25 x cross-entropy on the auxiliary head.
 *
 * Center loss (Wen et al. 2016) pulls each photo's features toward a learned center of its class,
 * making breeds compact clusters — what a fine-grained task needs when two breeds differ in a few
 * details. As in the seed's Keras code, the centers are ordinary trainable weights moved by the
 * same optimizer. The center of each photo is picked with a one-hot matmul, not a gather: tfjs'
 * wasm backend has no gather gradient.
 */
import { tf } from "../engine/tf.ts";
import { DEFAULTS } from "../defaults.ts";

export interface LossWeights {
  center: number;
  aux: number;
}

export const SEED_LOSS_WEIGHTS: LossWeights = DEFAULTS.lossWeights;

export interface LossTerms {
  total: tf.Scalar;
  main: tf.Scalar;
  center: tf.Scalar;
  aux: tf.Scalar;
}

/** Mean over the batch of sum_j (feature_ij - center_{label_i, j})^2. */
export function centerLoss(
  features: tf.Tensor,
  labels: tf.Tensor1D,
  centers: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const onehot = tf.oneHot(labels, centers.shape[0]).toFloat();
    const own = tf.matMul(onehot, centers);
    return tf.mean(tf.sum(tf.square(tf.sub(features, own)), 1)) as tf.Scalar;
  });
}

/** Mean softmax cross-entropy of logits against integer labels. */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const onehot = tf.oneHot(labels, logits.shape[1] as number).toFloat();
    return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
  });
}

export function seedLoss(
  [glu, mainLogits, auxLogits]: tf.Tensor[],
  labels: tf.Tensor1D,
  centers: tf.Tensor,
  weights: LossWeights = SEED_LOSS_WEIGHTS,
): LossTerms {
  const main = crossEntropy(mainLogits, labels);
  const center = centerLoss(glu, labels, centers);
  const aux = crossEntropy(auxLogits, labels);
  const total = tf.tidy(() =>
    tf.addN([main, tf.mul(center, weights.center), tf.mul(aux, weights.aux)]) as tf.Scalar
  );
  return { total, main, center, aux };
}
