/**
 * The stage 2-3 training step on ONNX Runtime: the unfrozen top, the heads, the three losses and
 * the SGD-with-momentum update as one graph (`lib/model/onnx_step.ts`), run on the cached trunk
 * activations. The weights and momentum live in plain arrays while a round's steps run, and go
 * back into tfjs' variables and optimizer at the end of every round: validation, checkpoints and
 * everything after them read tfjs, as before, and a run resumed from a checkpoint continues the
 * same arrays.
 */
import { tf } from "../engine/tf.ts";
import { OnnxSession } from "../engine/onnx.ts";
import type { SeedModel } from "../model/seed_model.ts";
import type { LossWeights } from "../model/loss.ts";
import { momentumStepGraph } from "../model/onnx_step.ts";
import type { ActivationSet } from "./features.ts";
import type { StepLoss } from "./step.ts";
import { batchMix, mixArrays, softTargets, type StepRecipe } from "./mix.ts";
import type { WeightAverage } from "./ema.ts";

export interface NativeStepper {
  /** Reads the weights and the optimizer's momentum from tfjs (a stage's start, a resume), and
   * the moving average of the weights when there is one. */
  load(optimizer: tf.Optimizer, average?: WeightAverage): Promise<void>;
  /** One step on batch k (as `activationSource` reads it), at learning rate `lr` (default: the
   * stage's). */
  step(k: number, lr?: number): Promise<StepLoss>;
  /** Writes the weights and momentum (and the average) back into tfjs (the end of a round). */
  store(optimizer: tf.Optimizer, average?: WeightAverage): Promise<void>;
  release(): Promise<void>;
}

export interface NativeStepOptions {
  batchSize: number;
  /** Step k reads stream batch k mod `cycle` (see activationSource). */
  cycle: number;
  learningRate: number;
  momentum: number;
  lossWeights: LossWeights;
  threads: number;
  /** Label smoothing and mixing, as tfjs' step draws them (step.ts). */
  recipe?: StepRecipe;
}

/** tfjs' MomentumOptimizer state, as its `applyGradients` keeps it. */
interface MomentumState {
  accumulations: ({ originalName: string; variable: tf.Variable } | undefined)[];
  iterations_: number;
}

/** Opens the native step of `top` and the heads on an activation set. Throws `NotNative` when
 * the top holds a layer the step graph does not write. */
export async function openNativeStep(
  model: SeedModel,
  top: tf.LayersModel,
  set: ActivationSet,
  options: NativeStepOptions,
): Promise<NativeStepper> {
  const graph = await momentumStepGraph(model, top, {
    batch: options.batchSize,
    momentum: options.momentum,
    lossWeights: options.lossWeights,
  });
  const session = await OnnxSession.create(graph.bytes, options.threads, { spin: true });
  const { variables, offsets } = graph;
  const dims = variables.map((v) => v.shape as number[]);
  const total = offsets.at(-1)!;
  let weights: Float32Array = new Float32Array(total);
  let momenta: Float32Array = new Float32Array(total);
  /** The moving average of the weights, with its decay (when the run keeps one). */
  let averaged: { values: Float32Array; decay: number } | undefined;
  const part = (flat: Float32Array, i: number) => flat.subarray(offsets[i], offsets[i + 1]);
  let steps = 0;
  const { batchSize, cycle } = options;
  const size = set.shape.reduce((a, b) => a * b, 1);
  const slotOf = new Map(
    (set.batches ?? [...Array(set.n / batchSize).keys()]).map((b, i) => [b, i]),
  );
  const classes = model.classes;
  const lr = new Float32Array([options.learningRate]);
  return {
    async load(optimizer, average) {
      const state = optimizer as unknown as MomentumState;
      weights = new Float32Array(total);
      momenta = new Float32Array(total);
      averaged = average && { values: new Float32Array(total), decay: average.decay };
      for (const [i, v] of variables.entries()) {
        weights.set(await v.data() as Float32Array, offsets[i]);
        const known = state.accumulations?.[i]?.variable;
        if (known) momenta.set(await known.data() as Float32Array, offsets[i]);
        if (averaged) {
          averaged.values.set(await average!.shadow[i].data() as Float32Array, offsets[i]);
        }
      }
      steps = 0;
    },
    async step(k, rate) {
      const slot = slotOf.get(k % cycle);
      if (slot === undefined) throw new Error(`stream batch ${k % cycle} was not cached`);
      const start = slot * batchSize;
      const dims = [batchSize, ...set.shape];
      const x = set.x.subarray(start * size, (start + batchSize) * size);
      const labels = set.labels.subarray(start, start + batchSize);
      const mix = batchMix(options.recipe, k, labels, classes, dims);
      const targets = mix?.targets ?? softTargets(labels, classes);
      lr[0] = rate ?? options.learningRate;
      const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
        x: { data: mix?.plan ? mixArrays(x, dims, mix.plan) : x, dims },
        y: { data: targets.classes, dims: [batchSize, classes] },
        c: { data: targets.centres, dims: [batchSize, classes] },
        lr: { data: lr, dims: [] },
        w: { data: weights, dims: [total] },
        a: { data: momenta, dims: [total] },
      };
      const out = await session.runNamed(feeds);
      weights = out.w_next;
      momenta = out.a_next;
      if (averaged) {
        // In float32, as tfjs' update computes it (lib/train/ema.ts).
        const { values, decay } = averaged;
        const [d, e] = [Math.fround(decay), Math.fround(1 - decay)];
        for (let j = 0; j < total; j++) {
          values[j] = Math.fround(Math.fround(values[j] * d) + Math.fround(weights[j] * e));
        }
      }
      steps++;
      const [main, center, aux] = [out.main[0], out.center[0], out.aux[0]];
      const { lossWeights } = options;
      return {
        main,
        center,
        aux,
        total: main + lossWeights.center * center + lossWeights.aux * aux,
      };
    },
    store(optimizer, average) {
      const state = optimizer as unknown as MomentumState;
      state.accumulations ??= [];
      tf.tidy(() => {
        variables.forEach((v, i) => {
          v.assign(tf.tensor(part(weights, i).slice(), dims[i]));
          if (average && averaged) {
            average.shadow[i].assign(tf.tensor(part(averaged.values, i).slice(), dims[i]));
          }
          const momentum = tf.tensor(part(momenta, i).slice(), dims[i]);
          const known = state.accumulations[i];
          if (known) known.variable.assign(momentum);
          else {
            state.accumulations[i] = {
              originalName: `${v.name}/momentum`,
              variable: tf.keep(momentum.variable(false)),
            };
          }
        });
      });
      // tfjs counts its steps (checkpoints keep the count): these were steps too.
      state.iterations_ = optimizer.iterations + steps;
      steps = 0;
      return Promise.resolve();
    },
    release: () => session.release(),
  };
}
