/**
 * What a stage trains on, and everything it takes to make it: the augmentation streams, the
 * trunk-worker pool, the folded (BatchNorm-free) copies of the frozen parts and, in cached mode,
 * the trunk activations of each policy and of the validation photos. One owner for all of it, so a
 * notebook's stage 2 reuses what stage 1 computed, and `close()` releases it whatever threw.
 */
import { tf } from "../engine/tf.ts";
import type { BackendRequest } from "../engine/tf.ts";
import type { ImageCache } from "../data/cache.ts";
import type { LabelMap } from "../data/labels.ts";
import type { LabelledImage } from "../data/dataset.ts";
import {
  batchMaker,
  type BatchStream,
  poolStream,
  type StreamConfig,
  workerStream,
} from "../augment/pipeline.ts";
import { scaledPhotos } from "../augment/batch.ts";
import type { PolicyName } from "../augment/policy.ts";
import { splitBackbone } from "../model/index.ts";
import type { Backbone } from "../model/backbone.ts";
import { type FoldedModel, foldModel } from "../model/fold.ts";
import { chainParts, type InferenceModel, outputShapeOf } from "../model/inference.ts";
import { type BatchRunner, onnxRunner, tfjsRunner } from "../model/runner.ts";
import { toOnnx } from "../model/onnx.ts";
import { NotNative } from "../model/onnx_step.ts";
import type { SeedModel } from "../model/seed_model.ts";
import type { LossWeights } from "../model/loss.ts";
import { type NativeStepper, openNativeStep } from "./native_step.ts";
import type { Preset, StageSpec } from "../run/presets.ts";
import { progressBar } from "../progress.ts";
import { timed } from "../phases.ts";
import { TrunkPool } from "./trunk_pool.ts";
import {
  type ActivationSet,
  activationsOfPhotos,
  activationsOfStream,
  batchesRead,
  mapActivations,
} from "./features.ts";
import { activationSource, type BatchSource, type RoundData } from "./trainer.ts";

export interface StageInputsOptions {
  preset: Preset;
  seed: number;
  backbone: Backbone;
  /** Pretrained weights the trunk workers load (they build their own trunk). */
  weights: string;
  cache: ImageCache;
  labels: LabelMap;
  /** Validation photos with class indices. */
  val: { id: string; label: number }[];
  /** The photos a policy's batches are drawn from (see `trainingPool`). */
  pool: (policy: PolicyName) => LabelledImage[];
  without?: StreamConfig["without"];
  /** Trunk workers in cached mode (default: one per core on wasm/cpu, else none). */
  trunkWorkers?: number;
  /** Progress bars for trunk caching (default true). */
  progress?: boolean;
  /** The model (the native training step writes its top and heads). */
  model: SeedModel;
  /** The seed's heads (validation runs them with the top on the forward engine). */
  head: tf.LayersModel;
  lossWeights: LossWeights;
  /** Stage 2-3 steps on ONNX Runtime where the engine is (default true). */
  nativeSteps?: boolean;
  log?: (line: string) => void;
  /** The forward engine for frozen passes, and its threads on the main thread (default tfjs). */
  engine?: { name: "onnxruntime" | "tfjs"; threads: number };
  /** The run's stages and where their steps start: which cached batches each policy's steps
   * read (only those are computed). */
  stages: readonly { spec: StageSpec; firstStep: number }[];
}

/** A stage's batches and validation inputs; `release()` frees what only this stage used. */
export interface StageData extends RoundData {
  /** Opens the native training step for the stage, where it can run (else undefined). */
  nativeStep?: (spec: StageSpec) => Promise<NativeStepper | undefined>;
  release(): void;
}

export class StageInputs {
  readonly #o: StageInputsOptions;
  readonly #trunk: tf.LayersModel;
  readonly #top: tf.LayersModel;
  readonly #workers: number;
  #pool?: TrunkPool;
  /** The trunk never trains: BatchNorm folded into its convolutions, ~3x faster on wasm. */
  #frozenTrunk?: FoldedModel;
  /** The unfrozen top trains through its BatchNorms folded into the convolutions (frozen
   * statistics make each an affine map; see fold.ts): same values, fewer passes per step. */
  #trainableTop?: FoldedModel;
  readonly #sets = new Map<PolicyName, ActivationSet>();
  #valTrunk?: ActivationSet;
  #valPixels?: ActivationSet;
  readonly #pooledSets = new Map<PolicyName, [ActivationSet, ActivationSet]>();
  #pooledVal?: ActivationSet;
  /** The trunk as an ONNX graph, for the workers (written once). */
  #trunkOnnx?: Promise<Uint8Array>;
  #trunkRunner?: Promise<BatchRunner>;
  #warned = false;

  constructor(options: StageInputsOptions) {
    this.#o = options;
    ({ trunk: this.#trunk, top: this.#top } = splitBackbone(options.backbone));
    const backend = tf.getBackend();
    this.#workers = options.trunkWorkers ??
      (["wasm", "cpu"].includes(backend) ? navigator.hardwareConcurrency || 1 : 1);
  }

  /**
   * Step k's batch of a stage, exactly as the step reads it (in cached mode: stream batch
   * k mod cachedBatches through the frozen trunk), made alone: a cell that shows one batch's
   * losses takes a second, not the minutes of caching a policy.
   */
  async oneBatch(stage: StageSpec, k: number): Promise<{ source: BatchSource; release(): void }> {
    if (this.#o.preset.mode === "end-to-end") return await this.forStage(stage);
    const maker = batchMaker(this.#streamConfig(stage.policy));
    const batch = maker.make(k % this.#o.preset.cachedBatches);
    maker.close();
    const trunk = await this.#trunkOnMainThread();
    const [activations] = await trunk.run(batch.images, batch.n);
    let x = activations;
    let shape = trunk.outputShapes[0];
    if (!stage.unfreeze) {
      const frozenTop = await this.#frozenRunner(this.#top);
      try {
        [x] = await frozenTop.runner.run(activations, batch.n);
        shape = frozenTop.runner.outputShapes[0];
      } finally {
        await frozenTop.dispose();
      }
    }
    const source: BatchSource = {
      part: stage.unfreeze ? this.#liveTop() : null,
      batch: () => ({
        x: tf.tensor(x, [batch.n, ...shape]),
        labels: tf.tensor1d(batch.labels, "int32"),
      }),
    };
    return { source, release() {} };
  }

  /** Batches and validation inputs of a stage, by the preset's mode. */
  async forStage(stage: StageSpec): Promise<StageData> {
    if (this.#o.preset.mode === "end-to-end") return this.#endToEnd(stage);
    if (stage.unfreeze) {
      const set = await this.#activations(stage.policy);
      return {
        source: activationSource(set, this.#batch, this.#liveTop(), this.#o.preset.cachedBatches),
        nativeStep: this.#native ? (spec) => this.#nativeStep(spec, set) : undefined,
        val: await this.#valSet(),
        valPart: this.#liveTop(),
        valRunner: this.#native
          ? () =>
            onnxRunner([this.#top, this.#o.head], {
              outputs: [1, 2],
              softmax: true,
              threads: this.#o.engine!.threads,
            })
          : undefined,
        release() {},
      };
    }
    // The whole backbone is frozen: pool once, train the head alone.
    const [set, val] = await this.#pooled(stage.policy);
    return {
      source: activationSource(set, this.#batch, null, this.#o.preset.cachedBatches),
      val,
      valPart: null,
      release() {},
    };
  }

  /** Pooled features of a policy's cached batches and of the validation photos, computed once. */
  async #pooled(policy: PolicyName): Promise<[ActivationSet, ActivationSet]> {
    const known = this.#pooledSets.get(policy);
    if (known) return known;
    const [cached, val] = [await this.#activations(policy), await this.#valSet()];
    const sets = await timed("pooled features", async () => {
      const frozenTop = await this.#frozenRunner(this.#top);
      try {
        return [
          await mapActivations(frozenTop.runner, cached),
          this.#pooledVal ??= await mapActivations(frozenTop.runner, val),
        ] as [ActivationSet, ActivationSet];
      } finally {
        await frozenTop.dispose();
      }
    });
    this.#pooledSets.set(policy, sets);
    return sets;
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

  /**
   * The stage's steps on ONNX Runtime: SGD with momentum (stages 2-3 and transfer) over a top the
   * step graph can write; else undefined, and the steps run on tfjs (said once).
   */
  async #nativeStep(spec: StageSpec, set: ActivationSet): Promise<NativeStepper | undefined> {
    const { optimizer } = spec;
    if (optimizer.kind !== "sgd" || this.#o.nativeSteps === false) return undefined;
    try {
      return await openNativeStep(this.#o.model, this.#top, set, {
        batchSize: this.#batch,
        cycle: this.#o.preset.cachedBatches,
        learningRate: optimizer.learningRate,
        momentum: optimizer.momentum ?? 0.9,
        lossWeights: this.#o.lossWeights,
        threads: this.#o.engine!.threads,
      });
    } catch (error) {
      if (!(error instanceof NotNative)) throw error;
      if (!this.#warned) this.#o.log?.(`training steps on tfjs: ${error.message}`);
      this.#warned = true;
      return undefined;
    }
  }

  /** Whether frozen passes run on ONNX Runtime. */
  get #native(): boolean {
    return this.#o.engine?.name === "onnxruntime";
  }

  /** A frozen part as a runner on the forward engine (ONNX Runtime, or its fold on tfjs). */
  async #frozenRunner(
    part: tf.LayersModel,
  ): Promise<{ runner: BatchRunner; dispose(): Promise<void> }> {
    const inputShape = (part.inputs[0].shape as number[]).slice(1);
    if (this.#native) {
      const runner = await onnxRunner([part], { threads: this.#o.engine!.threads });
      return { runner, dispose: () => runner.dispose() };
    }
    const folded = foldModel(part);
    return {
      runner: tfjsRunner(folded, inputShape),
      dispose: () => Promise.resolve(folded.dispose()),
    };
  }

  /** The trunk on the main thread (when there are no workers): kept for the stage's life. */
  #trunkOnMainThread(): Promise<BatchRunner> {
    const shape = (this.#trunk.inputs[0].shape as number[]).slice(1);
    return this.#trunkRunner ??= this.#native
      ? onnxRunner([this.#trunk], { threads: this.#o.engine!.threads })
      : Promise.resolve(tfjsRunner(this.#foldedTrunk(), shape));
  }

  get #batch(): number {
    return this.#o.preset.batchSize;
  }

  #liveTop(): FoldedModel {
    return this.#trainableTop ??= foldModel(this.#top, { trainable: true });
  }

  #foldedTrunk(): FoldedModel {
    return this.#frozenTrunk ??= foldModel(this.#trunk);
  }

  /** End to end (native TensorFlow, a GPU): fresh augmented images every step. What is frozen runs
   * folded and off the gradient tape; the unfrozen top trains through its live fold. */
  #endToEnd(stage: StageSpec): StageData {
    const whole = stage.unfreeze ? undefined : foldModel(this.#o.backbone.model);
    const frozen: InferenceModel = whole ?? this.#foldedTrunk();
    const part = stage.unfreeze ? this.#liveTop() : null;
    const maker = batchMaker(this.#streamConfig(stage.policy));
    return {
      source: {
        part,
        frozen,
        batch(k) {
          const b = maker.make(k);
          return {
            x: tf.tensor4d(b.images, [b.n, b.size, b.size, 3]),
            labels: tf.tensor1d(b.labels, "int32"),
          };
        },
      },
      val: this.#valPixels ??= photosAsInputs(this.#o.cache, this.#o.val),
      valPart: part ? chainParts(frozen, part) : frozen,
      release: () => whole?.dispose(),
    };
  }

  #streamConfig(policy: PolicyName): StreamConfig {
    const { cache, labels, preset, seed, without } = this.#o;
    return poolStream(cache, this.#o.pool(policy), labels, {
      policy,
      without,
      seed,
      batchSize: preset.batchSize,
    });
  }

  /** On the wasm and cpu backends the trunk runs in one worker per core (each on one thread,
   * beside its augmentation): on ONNX Runtime from the trunk's graph, else on tfjs wasm. A native
   * backend threads by itself. */
  async #trunkPool(): Promise<TrunkPool> {
    const { preset, weights, backbone, cache } = this.#o;
    if (this.#native) this.#trunkOnnx ??= toOnnx([this.#trunk]);
    const onnx = await this.#trunkOnnx;
    return this.#pool ??= new TrunkPool({
      backend: tf.getBackend() as BackendRequest,
      onnx,
      backbone: preset.backbone,
      weights,
      splitStage: backbone.spec.unfreezeFromStage,
      cacheFile: cache.file,
      cacheMeta: cache.meta,
    }, this.#workers);
  }

  /**
   * The trunk's activations for the policy's batches among the first `cachedBatches`, computed
   * once: those the run's steps of this policy read (all of them when the steps go round).
   */
  async #activations(policy: PolicyName): Promise<ActivationSet> {
    const known = this.#sets.get(policy);
    if (known) return known;
    const { cachedBatches } = this.#o.preset;
    const reading = this.#o.stages.filter((s) => s.spec.policy === policy)
      .map((s) => ({ firstStep: s.firstStep, steps: s.spec.rounds * s.spec.stepsPerRound }));
    const read = batchesRead(reading, cachedBatches);
    const which = read.length === cachedBatches ? cachedBatches : read;
    const progress = reporter(`trunk ${policy}`, this.#o.progress);
    const set = await timed("trunk caching", async () => {
      if (this.#workers > 1) {
        const shape = outputShapeOf(this.#trunk);
        return await (await this.#trunkPool()).stream(
          this.#streamConfig(policy),
          which,
          shape,
          progress,
        );
      }
      const config = this.#streamConfig(policy);
      const stream = typeof which === "number"
        ? workerStream(config, 0)
        : listedStream(config, which);
      try {
        const set = await activationsOfStream(
          await this.#trunkOnMainThread(),
          stream,
          read.length,
          progress,
        );
        return typeof which === "number" ? set : { ...set, batches: which };
      } finally {
        stream.close();
      }
    });
    this.#sets.set(policy, set);
    return set;
  }

  async #valSet(): Promise<ActivationSet> {
    if (this.#valTrunk) return this.#valTrunk;
    const progress = reporter("trunk val", this.#o.progress);
    const { cache, val } = this.#o;
    return this.#valTrunk = await timed(
      "trunk caching",
      async () =>
        this.#workers > 1
          ? await (await this.#trunkPool()).photos(val, outputShapeOf(this.#trunk), 32, progress)
          : await activationsOfPhotos(await this.#trunkOnMainThread(), cache, val, 32, progress),
    );
  }
}

/** A progress bar that appears with the first report (its total is known only then). */
export function reporter(label: string, show = true) {
  let bar: ReturnType<typeof progressBar> | undefined;
  // The phase starts now; its rate counts from here, not from its first report.
  const started = performance.now();
  return (done: number, total: number) => {
    if (!show) return;
    bar ??= progressBar(label, total, "it", started);
    bar.update(done);
    if (done === total) bar.done();
  };
}

/** The listed batches of a stream, made on this thread, in order. */
function listedStream(config: StreamConfig, batches: readonly number[]): BatchStream {
  const maker = batchMaker(config);
  let next = 0;
  return {
    next: () => Promise.resolve(maker.make(batches[next++])),
    close() {},
  };
}

/** Validation photos as scaled network inputs (end-to-end mode). */
function photosAsInputs(
  cache: ImageCache,
  photos: readonly { id: string; label: number }[],
): ActivationSet {
  return {
    x: scaledPhotos(cache, photos.map((p) => p.id)),
    labels: Int32Array.from(photos, (p) => p.label),
    n: photos.length,
    shape: [cache.size, cache.size, 3],
  };
}
