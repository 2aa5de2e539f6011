/**
 * Label smoothing, mixup and CutMix as one step: a batch's plan (the weight, the partner of each
 * sample, CutMix's box) drawn from its own seeded generator, so batch k mixes the same way after a
 * resume; the inputs mixed by it (typed arrays for the native step, tensors for tfjs, the same
 * numbers: a test holds them equal); and the soft targets both losses read.
 *
 * Mixing happens at the trainable part's input: images end to end, the trunk's cached activations
 * on the CPU presets (stage 1's pooled features, stages 2-3's activation map), so in cached mode it
 * costs nothing extra. CutMix needs a spatial grid: on pooled features a batch that would draw
 * CutMix draws mixup when that is on, and is left whole when it is not.
 */
import { tf } from "../engine/tf.ts";
import type { Regularization } from "../run/presets.ts";
import { Rng } from "../rng.ts";

/** What a step adds to the seed's: label smoothing and mixing, drawn per batch from the seed. */
export interface StepRecipe {
  regularize?: Regularization;
  seed: number;
}

/** A run's recipe: its preset's regularisers, drawn from its seed. */
export function stepRecipe(preset: { regularize?: Regularization }, seed: number): StepRecipe {
  return { regularize: preset.regularize, seed };
}

export interface MixPlan {
  /** The weight of each sample's own input and target. */
  lambda: number;
  /** The sample each one is mixed with. */
  partner: Int32Array;
  /** CutMix: the partner's box pasted in, in grid cells. */
  box?: { top: number; left: number; height: number; width: number };
}

/** Gamma(a, 1) by Marsaglia and Tsang (with the a < 1 boost). */
function gamma(rng: Rng, a: number): number {
  if (a < 1) return gamma(rng, a + 1) * Math.pow(rng.next() || Number.MIN_VALUE, 1 / a);
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number, v: number;
    do {
      const u1 = rng.next() || Number.MIN_VALUE;
      x = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rng.next());
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (
      u < 1 - 0.0331 * x ** 4 ||
      Math.log(u || Number.MIN_VALUE) < x * x / 2 + d * (1 - v + Math.log(v))
    ) {
      return d * v;
    }
  }
}

/** Beta(a, a). */
export function betaSample(rng: Rng, a: number): number {
  const x = gamma(rng, a);
  return x / (x + gamma(rng, a));
}

/** Batch k's mix, or undefined when the batch is left whole. `grid` is the input's [height,
 * width] when it has one. */
export function mixPlan(
  regularize: Regularization | undefined,
  seed: number,
  k: number,
  n: number,
  grid?: readonly [number, number],
): MixPlan | undefined {
  const mixup = regularize?.mixup ?? 0;
  const cutmix = grid ? regularize?.cutmix ?? 0 : 0;
  if (mixup <= 0 && cutmix <= 0) return undefined;
  const rng = new Rng(`mix:${seed}:${k}`);
  const useCutmix = cutmix > 0 && (mixup <= 0 || rng.bernoulli(0.5));
  const partner = Int32Array.from(rng.shuffle([...Array(n).keys()]));
  const lambda = betaSample(rng, useCutmix ? cutmix : mixup);
  if (!useCutmix) return { lambda, partner };
  const [h, w] = grid!;
  const side = Math.sqrt(1 - lambda);
  const [bh, bw] = [Math.round(h * side), Math.round(w * side)];
  const [cy, cx] = [rng.int(h), rng.int(w)];
  const top = Math.min(Math.max(cy - (bh >> 1), 0), h - bh);
  const left = Math.min(Math.max(cx - (bw >> 1), 0), w - bw);
  // The weight is the area actually kept, as CutMix's paper has it.
  return { lambda: 1 - (bh * bw) / (h * w), partner, box: { top, left, height: bh, width: bw } };
}

/** The mixed inputs of an [n, ...sample] batch (NHWC when the plan has a box). */
export function mixArrays(x: Float32Array, shape: readonly number[], plan: MixPlan): Float32Array {
  const [n, ...sample] = shape;
  const size = sample.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n * size);
  const { lambda, partner, box } = plan;
  for (let i = 0; i < n; i++) {
    const own = x.subarray(i * size, (i + 1) * size);
    const other = x.subarray(partner[i] * size, (partner[i] + 1) * size);
    const target = out.subarray(i * size, (i + 1) * size);
    if (!box) {
      for (let j = 0; j < size; j++) target[j] = lambda * own[j] + (1 - lambda) * other[j];
      continue;
    }
    target.set(own);
    const [w, c] = [sample[1], sample[2]];
    for (let r = box.top; r < box.top + box.height; r++) {
      const from = (r * w + box.left) * c;
      target.set(other.subarray(from, from + box.width * c), from);
    }
  }
  return out;
}

/** `mixArrays` on a tensor (call inside a tidy). */
export function mixTensor(x: tf.Tensor, plan: MixPlan): tf.Tensor {
  const other = tf.gather(x, tf.tensor1d(plan.partner, "int32"));
  if (!plan.box) return tf.add(tf.mul(x, plan.lambda), tf.mul(other, 1 - plan.lambda));
  const [, h, w] = x.shape;
  const mask = new Float32Array(h! * w!);
  const { top, left, height, width } = plan.box;
  for (let r = top; r < top + height; r++) mask.fill(1, r * w! + left, r * w! + left + width);
  const m = tf.tensor4d(mask, [1, h!, w!, 1]);
  return tf.add(tf.mul(x, tf.sub(1, m)), tf.mul(other, m));
}

export interface SoftTargets {
  /** [n, classes]: the cross-entropy's targets (smoothed, mixed). */
  classes: Float32Array;
  /** [n, classes]: each sample's weights on the class centers (mixed, never smoothed). */
  centres: Float32Array;
}

/** The targets of a batch: one-hot labels, smoothed by epsilon, mixed as the plan mixes inputs. */
export function softTargets(
  labels: Int32Array,
  classes: number,
  epsilon = 0,
  plan?: MixPlan,
): SoftTargets {
  const n = labels.length;
  const out = { classes: new Float32Array(n * classes), centres: new Float32Array(n * classes) };
  const lambda = plan?.lambda ?? 1;
  for (let i = 0; i < n; i++) {
    const row = i * classes;
    const add = (label: number, weight: number) => {
      out.centres[row + label] += weight;
      out.classes[row + label] += weight * (1 - epsilon);
    };
    add(labels[i], lambda);
    if (plan && lambda < 1) add(labels[plan.partner[i]], 1 - lambda);
    if (epsilon > 0) {
      for (let j = 0; j < classes; j++) out.classes[row + j] += epsilon / classes;
    }
  }
  return out;
}

/**
 * Batch k as the recipe draws it, for inputs of `shape` ([n, ...sample]; a grid when NHWC): the
 * mix (none: inputs left whole) and the soft targets; undefined when the batch is neither mixed
 * nor smoothed (plain labels). tfjs' step and the native one both ask here.
 */
export function batchMix(
  recipe: StepRecipe | undefined,
  k: number,
  labels: Int32Array,
  classes: number,
  shape: readonly number[],
): { plan?: MixPlan; targets: SoftTargets } | undefined {
  const grid = shape.length === 4 ? [shape[1], shape[2]] as const : undefined;
  const plan = recipe && mixPlan(recipe.regularize, recipe.seed, k, labels.length, grid);
  const epsilon = recipe?.regularize?.labelSmoothing ?? 0;
  if (!plan && epsilon === 0) return undefined;
  return { plan, targets: softTargets(labels, classes, epsilon, plan) };
}
