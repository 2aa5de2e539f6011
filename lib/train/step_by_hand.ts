/**
 * One training step taken in the open (notebook 03), then the same step through `trainStep`, to
 * show they are the same thing: the batch, each head's forward pass, the three loss terms, the
 * gradient of each part of the network, and the update, worked out from the optimizer's formula
 * (Adam's first step moves each weight by `lr * g / (|g| + eps)`: about `lr`, whatever the
 * gradient's size; SGD with momentum's first step by `lr * g`). The model's weights are put back
 * afterwards: the run trains exactly as it would have.
 */
import { readValues, tf } from "../engine/tf.ts";
import { type LossWeights, seedLoss } from "../model/loss.ts";
import { type SeedModel, trainableVariables } from "../model/seed_model.ts";
import type { OptimizerSpec } from "../run/presets.ts";
import { applyPart } from "../model/inference.ts";
import { showTable } from "../plot/table.ts";
import { type BatchSource, disposeOptimizer, inputsOf, makeOptimizer, trainStep } from "./step.ts";

/** tfjs' Adam epsilon (its backend's, float32). */
const ADAM_EPSILON = 1e-7;

export interface PartStep {
  /** The part of the network: a head's layer, the class centers, or a block of the backbone. */
  part: string;
  parameters: number;
  /** The gradient's L2 norm over the part. */
  gradientNorm: number;
  /** The update by hand: its largest and mean |change| over the part's weights. */
  largestChange: number;
  meanChange: number;
}

export interface StepByHand {
  /** The batch: class index of each photo, and the input's shape (pooled features in stage 1). */
  labels: number[];
  inputShape: number[];
  /** The first photo's probabilities under each head, and the GLU features' shape. */
  firstPhoto: { label: number; main: number[]; aux: number[] };
  gluShape: number[];
  terms: { main: number; center: number; aux: number; total: number };
  parts: PartStep[];
  /** The same step through the API (`trainStep`): its loss terms, and the largest difference
   * between the weights it left and the weights worked out by hand. */
  api: { total: number; largestDifference: number };
}

/** Which part a weight belongs to: the head layer's name, "centers", or the backbone block. */
function partOf(name: string): string {
  if (name.startsWith("centers")) return "centers";
  const layer = name.split("/")[0];
  const block = /^(block_\d+|Conv_1|block\d+)/.exec(layer)?.[1];
  return block ? `backbone ${block}` : layer;
}

/**
 * Batch `k` of `source`, one step by hand with `spec`'s optimizer, then the API's step from the
 * same weights. The trainable variables are the stage's (freeze or unfreeze before calling).
 */
export async function stepByHand(
  model: SeedModel,
  source: BatchSource,
  k: number,
  spec: OptimizerSpec,
  weights: LossWeights,
): Promise<StepByHand> {
  const variables = trainableVariables(model);
  const saved = variables.map((v) => tf.keep(v.clone()));
  try {
    // Forward, the loss, and the gradient of the total with respect to every trainable weight.
    let kept: tf.Tensor[] = [];
    let gluShape: number[] = [];
    const { labels, inputShape, grads } = tf.tidy(() => {
      const { x, targets, labels } = inputsOf(source, k, model.classes);
      const { grads } = tf.variableGrads(() => {
        const outputs = model.head.apply(applyPart(source.part, x), {
          training: true,
        }) as tf.Tensor[];
        const terms = seedLoss(outputs, targets, model.centers, weights);
        gluShape = outputs[0].shape.slice(1);
        kept = [
          tf.stack([terms.main, terms.center, terms.aux, terms.total]),
          tf.stack([tf.softmax(outputs[1]).gather(0), tf.softmax(outputs[2]).gather(0)]),
        ].map((t) => tf.keep(t));
        return terms.total;
      }, variables);
      return {
        labels: Array.from(labels),
        inputShape: x.shape.slice(1),
        grads: variables.map((v) => tf.keep(grads[v.name])),
      };
    });
    const [terms, firstPhoto] = kept;
    const [main, center, aux, total] = await readValues(terms);
    const probs = await readValues(firstPhoto);
    const classes = model.classes;
    // The update by hand, weight by weight, and each part's gradient norm and changes.
    const lr = spec.learningRate;
    const byHand: Float32Array[] = [];
    const parts = new Map<string, PartStep & { sumSquares: number; sumChange: number }>();
    for (const [i, v] of variables.entries()) {
      const g = await grads[i].data() as Float32Array;
      const w = await v.data() as Float32Array;
      const change = g.map((gi) =>
        spec.kind === "adam" ? -lr * gi / (Math.abs(gi) + ADAM_EPSILON) : -lr * gi
      );
      byHand.push(w.map((wi, j) => wi + change[j]));
      const name = partOf(v.name);
      const p = parts.get(name) ??
        {
          part: name,
          parameters: 0,
          gradientNorm: 0,
          largestChange: 0,
          meanChange: 0,
          sumSquares: 0,
          sumChange: 0,
        };
      p.parameters += g.length;
      g.forEach((gi, j) => {
        p.sumSquares += gi * gi;
        p.sumChange += Math.abs(change[j]);
        p.largestChange = Math.max(p.largestChange, Math.abs(change[j]));
      });
      parts.set(name, p);
    }
    tf.dispose(grads);
    // The same step through the API, from the same weights.
    const optimizer = makeOptimizer(spec);
    const apiLoss = await trainStep(model, source, k, optimizer, weights);
    disposeOptimizer(optimizer);
    let largestDifference = 0;
    for (const [i, v] of variables.entries()) {
      const after = await v.data() as Float32Array;
      after.forEach((
        a,
        j,
      ) => (largestDifference = Math.max(largestDifference, Math.abs(a - byHand[i][j]))));
    }
    return {
      labels,
      inputShape,
      firstPhoto: {
        label: labels[0],
        main: Array.from(probs.subarray(0, classes)),
        aux: Array.from(probs.subarray(classes)),
      },
      gluShape,
      terms: { main, center, aux, total },
      parts: [...parts.values()].map(({ sumSquares, sumChange, ...p }) => ({
        ...p,
        gradientNorm: Math.sqrt(sumSquares),
        meanChange: sumChange / p.parameters,
      })),
      api: { total: apiLoss.total, largestDifference },
    };
  } finally {
    variables.forEach((v, i) => v.assign(saved[i]));
    tf.dispose(saved);
  }
}

/** A step by hand (notebooks 03 and 05), part by part: its gradient and the optimizer's update,
 * titled with the loss terms it came from. */
export async function showStepParts(step: StepByHand, optimizer: string): Promise<void> {
  const e = (x: number) => x.toExponential(2);
  const { main, center, aux, total } = step.terms;
  await showTable(
    step.parts.map((p) => ({
      part: p.part,
      parameters: p.parameters,
      "gradient norm": e(p.gradientNorm),
      "largest change": e(p.largestChange),
      "mean change": e(p.meanChange),
    })),
    `loss ${total.toFixed(4)} (main ${main.toFixed(3)}, center ${center.toFixed(3)}, ` +
      `aux ${aux.toFixed(3)}): each part's gradient, and ${optimizer}'s first update by hand`,
  );
}
