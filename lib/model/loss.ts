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

/**
 * What the loss compares the outputs with: integer labels, or soft targets (label smoothing and
 * mixup, lib/train/mix.ts): the cross-entropy's class targets, and each sample's weights on the
 * class centers (a mixed sample is pulled toward the same mix of its two centers).
 */
export type Targets = tf.Tensor1D | { classes: tf.Tensor2D; centres: tf.Tensor2D };

/** Integer labels as one-hot rows; soft rows as they are. */
function rows(labels: tf.Tensor1D | tf.Tensor2D, classes: number): tf.Tensor2D {
  return labels.rank === 2
    ? labels as tf.Tensor2D
    : tf.oneHot(labels as tf.Tensor1D, classes).toFloat() as tf.Tensor2D;
}

/** Mean over the batch of sum_j (feature_ij - center_{label_i, j})^2 (with soft weights: the
 * distance to the weighted mix of centers). */
export function centerLoss(
  features: tf.Tensor,
  labels: tf.Tensor1D | tf.Tensor2D,
  centers: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const own = tf.matMul(rows(labels, centers.shape[0]), centers);
    return tf.mean(tf.sum(tf.square(tf.sub(features, own)), 1)) as tf.Scalar;
  });
}

/** Mean softmax cross-entropy of logits against integer labels (or soft target rows). */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor1D | tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    return tf.losses.softmaxCrossEntropy(rows(labels, logits.shape[1]!), logits) as tf.Scalar;
  });
}

export function seedLoss(
  [glu, mainLogits, auxLogits]: tf.Tensor[],
  targets: Targets,
  centers: tf.Tensor,
  weights: LossWeights = SEED_LOSS_WEIGHTS,
): LossTerms {
  const [classes, centres] = "classes" in targets
    ? [targets.classes, targets.centres]
    : [targets, targets];
  const main = crossEntropy(mainLogits, classes);
  const center = centerLoss(glu, centres, centers);
  const aux = crossEntropy(auxLogits, classes);
  const total = tf.tidy(() =>
    tf.addN([main, tf.mul(center, weights.center), tf.mul(aux, weights.aux)]) as tf.Scalar
  );
  return { total, main, center, aux };
}
