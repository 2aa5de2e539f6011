/**
 * What a stage trains on, and everything it takes to make it: the augmentation streams, the
 * trunk-worker pool, the folded (BatchNorm-free) copies of the frozen parts and, in cached mode,
 * the trunk activations of each policy and of the validation photos. One owner for all of it, so a
 * notebook's stage 2 reuses what stage 1 computed, and `close()` releases it whatever threw.
 */
import { tf } from "../engine/tf.ts";
import type { ImageCache } from "../data/cache.ts";
import type { LabelMap } from "../data/labels.ts";
import type { LabelledImage } from "../data/dataset.ts";
import {
  batchMaker,
  type BatchStream,
  peekBatch,
  peekSamples,
  poolStream,
  type StreamConfig,
  workerStream,
} from "../augment/pipeline.ts";
import { type Batch, scaledPhotos } from "../augment/batch.ts";
import type { PolicyName } from "../augment/policy.ts";
import type { Sample } from "../augment/sampler.ts";
import type { Backbone } from "../model/backbone.ts";
import { foldModel } from "../model/fold.ts";
import { chainParts, type InferenceModel, outputShapeOf } from "../model/inference.ts";
import type { SeedModel } from "../model/seed_model.ts";
import type { LossWeights } from "../model/loss.ts";
import { type NativeStepper } from "./native_step.ts";
import type { Preset, StageSpec } from "../run/presets.ts";
import { progressBar } from "../progress.ts";
import { timed } from "../phases.ts";
import {
  type ActivationSet,
  activationsOfPhotos,
  activationsOfStream,
  batchesRead,
  mapActivations,
} from "./features.ts";
import { activationSource, type BatchSource } from "./step.ts";
import type { RoundData } from "./round.ts";
import { FrozenParts } from "./frozen_parts.ts";

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
  sampler?: StreamConfig["sampler"];
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
  #o: StageInputsOptions;
  /** What the stage does not train, and the engines that run it. */
  readonly #parts: FrozenParts;
  readonly #sets = new Map<PolicyName, ActivationSet>();
  /** The stream batches each cached set holds (a number: all of the cycle). */
  readonly #held = new Map<PolicyName, number[] | number>();
  #valTrunk?: ActivationSet;
  #valPixels?: ActivationSet;
  readonly #pooledSets = new Map<PolicyName, ActivationSet>();
  #pooledValSet?: ActivationSet;

  constructor(options: StageInputsOptions) {
    this.#o = options;
    this.#parts = new FrozenParts(options);
  }

  /**
   * Step k's batch of a stage, exactly as the step reads it (in cached mode: stream batch
   * k mod cachedBatches through the frozen trunk), made alone: a cell that shows one batch's
   * losses takes a second, not the minutes of caching a policy.
   */
  async oneBatch(stage: StageSpec, k: number): Promise<{ source: BatchSource; release(): void }> {
    if (this.#o.preset.mode === "end-to-end") return await this.forStage(stage);
    const batch = this.photos(stage, k);
    const trunk = await this.#parts.trunkOnMainThread();
    const [activations] = await trunk.run(batch.images, batch.n);
    let x = activations;
    let shape = trunk.outputShapes[0];
    if (!stage.unfreeze) {
      const frozenTop = await this.#parts.runner(this.#parts.top);
      try {
        [x] = await frozenTop.runner.run(activations, batch.n);
        shape = frozenTop.runner.outputShapes[0];
      } finally {
        await frozenTop.dispose();
      }
    }
    const source: BatchSource = {
      part: stage.unfreeze ? this.#parts.liveTop() : null,
      batch: () => ({
        x: tf.tensor(x, [batch.n, ...shape]),
        labels: batch.labels,
      }),
    };
    return { source, release() {} };
  }

  /** The augmented photos of a stage's step k, as the sampler makes them (cached mode: stream
   * batch k mod cachedBatches, the one the step reads activations of). */
  photos(stage: StageSpec, k: number): Batch {
    return peekBatch(this.#streamConfig(stage.policy), this.#streamBatch(k));
  }

  /** Which photos a stage's step k draws (ids, two for a splice), in its batch's order. */
  samples(stage: StageSpec, k: number): Sample[] {
    return peekSamples(this.#streamConfig(stage.policy), this.#streamBatch(k));
  }

  /** The stream batch step k reads: in cached mode the cycle of `cachedBatches` repeats. */
  #streamBatch(k: number): number {
    const cycle = this.#o.preset.mode === "end-to-end" ? Infinity : this.#o.preset.cachedBatches;
    return k % cycle;
  }

  /** A stage's validation inputs alone (not its training batches): what a round's validation
   * pass runs, with the weights of the moment. */
  async validation(
    stage: StageSpec,
  ): Promise<Pick<StageData, "val" | "valPart" | "valRunner"> & { release(): void }> {
    if (this.#o.preset.mode === "end-to-end") return this.#endToEnd(stage);
    if (!stage.unfreeze) return { val: await this.#pooledVal(), valPart: null, release() {} };
    return {
      val: await this.#valSet(),
      valPart: this.#parts.liveTop(),
      valRunner: this.#parts.native ? () => this.#parts.valRunner() : undefined,
      release() {},
    };
  }

  /** Batches and validation inputs of a stage, by the preset's mode. */
  async forStage(stage: StageSpec): Promise<StageData> {
    if (this.#o.preset.mode === "end-to-end") return this.#endToEnd(stage);
    const checks = await this.validation(stage);
    const { cachedBatches } = this.#o.preset;
    if (stage.unfreeze) {
      const set = await this.#activations(stage.policy);
      return {
        ...checks,
        source: activationSource(set, this.#batch, this.#parts.liveTop(), cachedBatches),
        nativeStep: this.#parts.native ? (spec) => this.#parts.nativeStep(spec, set) : undefined,
      };
    }
    // The whole backbone is frozen: pool once, train the head alone.
    const set = await this.#pooled(stage.policy);
    return { ...checks, source: activationSource(set, this.#batch, null, cachedBatches) };
  }

  /** Pooled features of a policy's cached batches, computed once. */
  async #pooled(policy: PolicyName): Promise<ActivationSet> {
    const known = this.#pooledSets.get(policy);
    if (known) return known;
    const set = await this.#throughFrozenTop(await this.#activations(policy));
    this.#pooledSets.set(policy, set);
    return set;
  }

  /** Pooled features of the validation photos, computed once. */
  async #pooledVal(): Promise<ActivationSet> {
    return this.#pooledValSet ??= await this.#throughFrozenTop(await this.#valSet());
  }

  /** Trunk activations through the frozen top: pooled features. */
  async #throughFrozenTop(set: ActivationSet): Promise<ActivationSet> {
    return await timed("pooled features", async () => {
      const frozenTop = await this.#parts.runner(this.#parts.top);
      try {
        return await mapActivations(frozenTop.runner, set);
      } finally {
        await frozenTop.dispose();
      }
    });
  }

  async close(): Promise<void> {
    await this.#parts.close();
  }

  get #batch(): number {
    return this.#o.preset.batchSize;
  }

  /** End to end (native TensorFlow, a GPU): fresh augmented images every step. What is frozen runs
   * folded and off the gradient tape; the unfrozen top trains through its live fold. */
  #endToEnd(stage: StageSpec): StageData {
    const whole = stage.unfreeze ? undefined : foldModel(this.#o.backbone.model);
    const frozen: InferenceModel = whole ?? this.#parts.foldedTrunk();
    const part = stage.unfreeze ? this.#parts.liveTop() : null;
    const config = this.#streamConfig(stage.policy);
    // Opened by the first batch (a validation pass needs none), closed with the stage.
    let maker: ReturnType<typeof batchMaker> | undefined;
    return {
      source: {
        part,
        frozen,
        batch(k) {
          const b = (maker ??= batchMaker(config)).make(k);
          return {
            x: tf.tensor4d(b.images, [b.n, b.size, b.size, 3]),
            labels: b.labels,
          };
        },
      },
      val: this.#valPixels ??= photosAsInputs(this.#o.cache, this.#o.val),
      valPart: part ? chainParts(frozen, part) : frozen,
      release: () => {
        whole?.dispose();
        maker?.close();
      },
    };
  }

  #streamConfig(policy: PolicyName): StreamConfig {
    const { cache, labels, preset, seed, without, sampler } = this.#o;
    return poolStream(cache, this.#o.pool(policy), labels, {
      policy,
      without,
      sampler,
      seed,
      batchSize: preset.batchSize,
    });
  }

  /**
   * The run's stages after a budget refit (lib/train/budget.ts): a policy's cached set that lacks
   * batches the new steps read is computed again when a stage asks for it.
   */
  replan(stages: StageInputsOptions["stages"]): void {
    this.#o = { ...this.#o, stages };
    for (const [policy, held] of this.#held) {
      const need = this.#batchesOf(policy);
      const has = typeof held === "number" ? undefined : new Set(held);
      if (has && (typeof need === "number" || need.some((b) => !has.has(b)))) {
        this.#sets.delete(policy);
        this.#pooledSets.delete(policy);
        this.#held.delete(policy);
      }
    }
  }

  /** The stream batches the run's steps of a policy read (a number: the whole cycle). */
  #batchesOf(policy: PolicyName): number[] | number {
    const { cachedBatches } = this.#o.preset;
    const reading = this.#o.stages.filter((s) => s.spec.policy === policy)
      .map((s) => ({ firstStep: s.firstStep, steps: s.spec.rounds * s.spec.stepsPerRound }));
    const read = batchesRead(reading, cachedBatches);
    return read.length === cachedBatches ? cachedBatches : read;
  }

  /**
   * The trunk's activations for the policy's batches among the first `cachedBatches`, computed
   * once: those the run's steps of this policy read (all of them when the steps go round).
   */
  async #activations(policy: PolicyName): Promise<ActivationSet> {
    const known = this.#sets.get(policy);
    if (known) return known;
    const which = this.#batchesOf(policy);
    const progress = reporter(`trunk ${policy}`, this.#o.progress);
    const set = await timed("trunk caching", async () => {
      if (this.#parts.workers > 1) {
        const shape = outputShapeOf(this.#parts.trunk);
        return await (await this.#parts.trunkPool()).stream(
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
          await this.#parts.trunkOnMainThread(),
          stream,
          typeof which === "number" ? which : which.length,
          progress,
        );
        return typeof which === "number" ? set : { ...set, batches: which };
      } finally {
        stream.close();
      }
    });
    this.#sets.set(policy, set);
    this.#held.set(policy, which);
    return set;
  }

  async #valSet(): Promise<ActivationSet> {
    if (this.#valTrunk) return this.#valTrunk;
    const progress = reporter("trunk val", this.#o.progress);
    const { cache, val } = this.#o;
    return this.#valTrunk = await timed(
      "trunk caching",
      async () =>
        this.#parts.workers > 1
          ? await (await this.#parts.trunkPool()).photos(
            val,
            outputShapeOf(this.#parts.trunk),
            32,
            progress,
          )
          : await activationsOfPhotos(
            await this.#parts.trunkOnMainThread(),
            cache,
            val,
            32,
            progress,
          ),
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
