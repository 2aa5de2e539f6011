/**
 * What a stage does not train, and which engine runs each pass over it: ONNX Runtime where it is
 * the forward engine (a session per part, written from the weights of the moment), else tfjs on
 * BatchNorm-folded copies; the frozen trunk on the main thread or in one worker per core; the
 * native training step of stages 2-3. One owner, so `close()` frees every session, worker and
 * folded copy, whatever threw.
 */
import { tf } from "../engine/tf.ts";
import type { BackendRequest } from "../engine/tf.ts";
import { splitBackbone } from "../model/index.ts";
import { type FoldedModel, foldModel } from "../model/fold.ts";
import { type BatchRunner, onnxRunner, tfjsRunner } from "../model/runner.ts";
import { toOnnx } from "../model/onnx.ts";
import { NotNative } from "../model/onnx_step.ts";
import type { StageSpec } from "../run/presets.ts";
import { type NativeStepper, openNativeStep } from "./native_step.ts";
import { stepRecipe } from "./mix.ts";
import { TrunkPool } from "./trunk_pool.ts";
import type { ActivationSet } from "./features.ts";
import type { StageInputsOptions } from "./stage_inputs.ts";
import { DEFAULTS } from "../defaults.ts";

export type FrozenPartsOptions = Pick<
  StageInputsOptions,
  | "preset"
  | "seed"
  | "backbone"
  | "weights"
  | "cache"
  | "model"
  | "head"
  | "lossWeights"
  | "nativeSteps"
  | "log"
  | "engine"
  | "trunkWorkers"
>;

export class FrozenParts {
  /** Everything below the blocks stages 2-3 unfreeze: it never trains. */
  readonly trunk: tf.LayersModel;
  /** The blocks stages 2-3 unfreeze (frozen in stage 1). */
  readonly top: tf.LayersModel;
  /** Trunk workers: one per core on wasm and cpu, else none (a native backend threads itself). */
  readonly workers: number;
  readonly #o: FrozenPartsOptions;
  #pool?: TrunkPool;
  /** The trunk never trains: BatchNorm folded into its convolutions, ~3x faster on wasm. */
  #frozenTrunk?: FoldedModel;
  /** The unfrozen top trains through its BatchNorms folded into the convolutions (frozen
   * statistics make each an affine map; see fold.ts): same values, fewer passes per step. */
  #trainableTop?: FoldedModel;
  /** The trunk as an ONNX graph, for the workers (written once). */
  #trunkOnnx?: Promise<Uint8Array>;
  #trunkRunner?: Promise<BatchRunner>;
  #warned = false;

  constructor(options: FrozenPartsOptions) {
    this.#o = options;
    ({ trunk: this.trunk, top: this.top } = splitBackbone(options.backbone));
    const backend = tf.getBackend();
    this.workers = options.trunkWorkers ??
      (["wasm", "cpu"].includes(backend) ? navigator.hardwareConcurrency || 1 : 1);
  }

  /**
   * The stage's steps on ONNX Runtime: SGD with momentum (stages 2-3 and transfer) over a top the
   * step graph can write; else undefined, and the steps run on tfjs (said once).
   */
  async nativeStep(spec: StageSpec, set: ActivationSet): Promise<NativeStepper | undefined> {
    const { optimizer } = spec;
    if (optimizer.kind !== "sgd" || this.#o.nativeSteps === false) return undefined;
    try {
      return await openNativeStep(this.#o.model, this.top, set, {
        batchSize: this.#o.preset.batchSize,
        cycle: this.#o.preset.cachedBatches,
        learningRate: optimizer.learningRate,
        momentum: optimizer.momentum ?? DEFAULTS.momentum,
        lossWeights: this.#o.lossWeights,
        threads: this.#o.engine!.threads,
        recipe: stepRecipe(this.#o.preset, this.#o.seed),
      });
    } catch (error) {
      if (!(error instanceof NotNative)) throw error;
      if (!this.#warned) this.#o.log?.(`training steps on tfjs: ${error.message}`);
      this.#warned = true;
      return undefined;
    }
  }

  /** Whether frozen passes run on ONNX Runtime. */
  get native(): boolean {
    return this.#o.engine?.name === "onnxruntime";
  }

  /** A frozen part as a runner on the forward engine (ONNX Runtime, or its fold on tfjs). */
  async runner(
    part: tf.LayersModel,
  ): Promise<{ runner: BatchRunner; dispose(): Promise<void> }> {
    const inputShape = (part.inputs[0].shape as number[]).slice(1);
    if (this.native) {
      const runner = await onnxRunner([part], { threads: this.#o.engine!.threads });
      return { runner, dispose: () => runner.dispose() };
    }
    const folded = foldModel(part);
    return {
      runner: tfjsRunner(folded, inputShape),
      dispose: () => Promise.resolve(folded.dispose()),
    };
  }

  /** The unfrozen top and the heads on ONNX Runtime, written from the weights of the moment. */
  valRunner(): Promise<BatchRunner> {
    return onnxRunner([this.top, this.#o.head], {
      outputs: [1, 2],
      softmax: true,
      threads: this.#o.engine!.threads,
    });
  }

  /** The trunk on the main thread (when there are no workers): kept for the stage's life. */
  trunkOnMainThread(): Promise<BatchRunner> {
    const shape = (this.trunk.inputs[0].shape as number[]).slice(1);
    return this.#trunkRunner ??= this.native
      ? onnxRunner([this.trunk], { threads: this.#o.engine!.threads })
      : Promise.resolve(tfjsRunner(this.foldedTrunk(), shape));
  }

  /** The unfrozen top as training sees it (BatchNorm folded, trainably). */
  liveTop(): FoldedModel {
    return this.#trainableTop ??= foldModel(this.top, { trainable: true });
  }

  /** The trunk with BatchNorm folded, for tfjs passes. */
  foldedTrunk(): FoldedModel {
    return this.#frozenTrunk ??= foldModel(this.trunk);
  }

  /** On the wasm and cpu backends the trunk runs in one worker per core (each on one thread,
   * beside its augmentation): on ONNX Runtime from the trunk's graph, else on tfjs wasm. A native
   * backend threads by itself. */
  async trunkPool(): Promise<TrunkPool> {
    const { preset, weights, backbone, cache } = this.#o;
    if (this.native) this.#trunkOnnx ??= toOnnx([this.trunk], { planarInput: true });
    const onnx = await this.#trunkOnnx;
    return this.#pool ??= new TrunkPool({
      backend: tf.getBackend() as BackendRequest,
      onnx,
      backbone: preset.backbone,
      weights,
      splitStage: backbone.spec.unfreezeFromStage,
      cache: cache.view,
    }, this.workers);
  }

  async close(): Promise<void> {
    await this.#pool?.close();
    this.#pool = undefined;
    const trunk = this.#trunkRunner;
    this.#trunkRunner = undefined;
    await (await trunk?.catch(() => undefined))?.dispose();
    this.#frozenTrunk?.dispose();
    this.#frozenTrunk = undefined;
    this.#trainableTop?.dispose();
    this.#trainableTop = undefined;
  }
}
