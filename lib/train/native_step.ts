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

export interface NativeStepper {
  /** Reads the weights and the optimizer's momentum from tfjs (a stage's start, a resume). */
  load(optimizer: tf.Optimizer): Promise<void>;
  /** One step on batch k (as `activationSource` reads it). */
  step(k: number): Promise<StepLoss>;
  /** Writes the weights and momentum back into tfjs (the end of a round). */
  store(optimizer: tf.Optimizer): Promise<void>;
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
    async load(optimizer) {
      const state = optimizer as unknown as MomentumState;
      weights = new Float32Array(total);
      momenta = new Float32Array(total);
      for (const [i, v] of variables.entries()) {
        weights.set(await v.data() as Float32Array, offsets[i]);
        const known = state.accumulations?.[i]?.variable;
        if (known) momenta.set(await known.data() as Float32Array, offsets[i]);
      }
      steps = 0;
    },
    async step(k) {
      const slot = slotOf.get(k % cycle);
      if (slot === undefined) throw new Error(`stream batch ${k % cycle} was not cached`);
      const start = slot * batchSize;
      const onehot = new Float32Array(batchSize * classes);
      for (let i = 0; i < batchSize; i++) onehot[i * classes + set.labels[start + i]] = 1;
      const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
        x: {
          data: set.x.subarray(start * size, (start + batchSize) * size),
          dims: [batchSize, ...set.shape],
        },
        y: { data: onehot, dims: [batchSize, classes] },
        lr: { data: lr, dims: [] },
        w: { data: weights, dims: [total] },
        a: { data: momenta, dims: [total] },
      };
      const out = await session.runNamed(feeds);
      weights = out.w_next;
      momenta = out.a_next;
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
    store(optimizer) {
      const state = optimizer as unknown as MomentumState;
      state.accumulations ??= [];
      tf.tidy(() => {
        variables.forEach((v, i) => {
          v.assign(tf.tensor(part(weights, i).slice(), dims[i]));
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
