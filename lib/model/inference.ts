/**
 * What runs a part of the network forward: Keras layers as built, or a compiled frozen model
 * (`fold.ts`). Training, feature caching and validation take either, so a frozen trunk can be
 * swapped for its folded form without the callers knowing.
 */
import { tf } from "../engine/tf.ts";

/** What inference needs of a model: a batch in, a batch out. */
export interface InferenceModel {
  /** Shape of one output sample, e.g. [7, 7, 56]. */
  outputShape: number[];
  /** Inference on a batch; the caller owns (and disposes) the result. */
  predict(x: tf.Tensor): tf.Tensor;
}

/** A LayersModel (run in inference mode, still differentiable for its trainable weights) or a
 * compiled frozen model such as a folded trunk. */
export type Part = tf.LayersModel | InferenceModel;

/** Shape of one output sample of a part. */
export function outputShapeOf(part: Part): number[] {
  return part instanceof tf.LayersModel
    ? (part.outputs[0].shape as number[]).slice(1)
    : part.outputShape;
}

/** The part's forward pass (inference-mode BatchNorm, whatever is trainable); null passes x on. */
export function applyPart(part: Part | null, x: tf.Tensor): tf.Tensor {
  if (!part) return x;
  return part instanceof tf.LayersModel
    ? part.apply(x, { training: false }) as tf.Tensor
    : part.predict(x);
}

/** `first` (e.g. a folded frozen trunk) then `then` (e.g. the unfrozen top), as one part. */
export function chainParts(first: InferenceModel, then: Part): InferenceModel {
  return { outputShape: outputShapeOf(then), predict: (x) => applyPart(then, first.predict(x)) };
}
