/**
 * A whole training run, as `deno task train` and notebook 03 start it: data steps, backbone with
 * pretrained weights, the seed's head, the activation caches (cached mode), then the stages'
 * rounds with validation, metrics log and checkpoints. Interrupted at any point, the same call
 * resumes after the last complete checkpoint: batches are a pure function of (seed, step), the
 * optimizer state is in the checkpoint, so the resumed run continues the very same stream.
 */
import { basename, join, resolve } from "node:path";
import { type BackendRequest, tf } from "../tf.ts";
import { TrunkPool } from "./trunk_pool.ts";
import { listingChanges, prepareData, type PreparedData } from "../data/prepare.ts";
import { readDataset } from "../data/readers.ts";
import type { DatasetListing } from "../data/dataset.ts";
import type { Skipped } from "../data/errors.ts";
import {
  checkIdentity,
  listingFingerprint,
  lockRunFolder,
  type RunIdentity,
  weightsFingerprint,
} from "./run_folder.ts";
import { exists, removeStaleTemporaries, sha256Hex, writeTextAtomic } from "../files.ts";
import { batchMaker, poolStream, type StreamConfig, workerStream } from "../augment/pipeline.ts";
import { scaledPhotos } from "../augment/batch.ts";
import type { ImageCache } from "../data/cache.ts";
import type { PolicyName } from "../augment/policy.ts";
import { buildBackbone, splitBackbone } from "../model/index.ts";
import { loadPretrained } from "../model/pretrained.ts";
import { buildSeedModel, type SeedModel } from "../model/seed_model.ts";
import { type LossWeights, SEED_LOSS_WEIGHTS } from "../model/loss.ts";
import { type FoldedModel, foldModel } from "../model/fold.ts";
import { chainParts, type InferenceModel, outputShapeOf, type Part } from "../model/inference.ts";
import { progressBar } from "../progress.ts";
import type { Preset, StageSpec } from "./presets.ts";
import type { LabelledImage } from "../data/dataset.ts";
import { POLICIES } from "../augment/policy.ts";
import { type CheckpointMeta, listCheckpoints, loadCheckpoint } from "./checkpoint.ts";
import {
  type ActivationSet,
  activationsOfPhotos,
  activationsOfStream,
  mapActivations,
} from "./features.ts";
import {
  bestOf,
  checkpointCallback,
  type HistoryRow,
  metricsLogCallback,
  writeHistory,
} from "./callbacks.ts";
import {
  activationSource,
  type BatchSource,
  type Callback,
  makeOptimizer,
  prepareStage,
  type RoundInfo,
  runRound,
} from "./trainer.ts";

export interface TrainOptions {
  data: string;
  weights: string;
  /** Run folder: split files, checkpoints/, metrics.csv. */
  out: string;
  preset: Preset;
  seed?: number;
  cacheDir?: string;
  lossWeights?: LossWeights;
  /** The model without the GLU (ablation). */
  glu?: boolean;
  callbacks?: Callback[];
  log?: (line: string) => void;
  /** Stages to run instead of the preset's (pseudo-label transfer runs its own). */
  stages?: StageSpec[];
  /** Start from this checkpoint's weights (when the run folder has none of its own yet). */
  init?: string;
  /** Pseudo-labelled photos (dataset labels) added to the pool of the transfer policies. */
  pseudo?: LabelledImage[];
  /** Train on the validation photos too (the seed's transfer uses all labelled data). */
  trainOnVal?: boolean;
  /** Seed of the data split alone (default: `seed`). Runs that share it share their validation
   * and test photos, so they can be ensembled; `seed` still drives everything else. */
  splitSeed?: number;
  /** Per-class validation fraction (default 0.1) and, for ImageFolder data, test carve-off. */
  valFraction?: number;
  testFraction?: number;
  /** Trunk workers in cached mode (default: one per core on wasm/cpu, else none). */
  trunkWorkers?: number;
  /** Progress bars for decoding and trunk caching on stderr (default true). */
  progress?: boolean;
  /** Switch off augmentations (ablations). */
  without?: StreamConfig["without"];
}

/** What a run was started with (`run.json`), enough to rebuild its model from a checkpoint. */
export interface RunConfig {
  data: string;
  weights: string;
  preset: Preset;
  seed: number;
  glu: boolean;
  lossWeights: LossWeights;
  /** What the run folder is bound to (see run_folder.ts). */
  identity: RunIdentity;
}

export interface TrainResult {
  model: SeedModel;
  data: PreparedData;
  history: HistoryRow[];
  best?: { path: string; meta: CheckpointMeta };
  seconds: number;
  resumedFrom?: number;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const { out } = options;
  const log = options.log ?? ((line: string) => console.error(line));
  // The run folder's contract first, before anything is written: same run, one process.
  const listing = await readDataset(options.data);
  const identity = await runIdentity(options, listing);
  const state = await checkIdentity(out, identity, () => listingChanges(out, listing));
  const lock = await lockRunFolder(out);
  try {
    return await trainLocked(options, listing, identity, state, log, started);
  } finally {
    await lock.release();
  }
}

/** What makes a run this run (see run_folder.ts). */
async function runIdentity(options: TrainOptions, listing: DatasetListing): Promise<RunIdentity> {
  const { preset, seed = 0 } = options;
  return {
    dataset: {
      root: resolve(options.data),
      photos: listing.train.length + listing.test.length,
      listing: listingFingerprint(listing),
    },
    preset: preset.name,
    seed,
    weights: await weightsFingerprint(options.weights),
    settings: {
      recipe: sha256Hex(JSON.stringify(preset), 16),
      splitSeed: options.splitSeed ?? seed,
      valFraction: options.valFraction ?? 0.1,
      testFraction: options.testFraction ?? 0.1,
      glu: options.glu ?? true,
      lossWeights: options.lossWeights ?? SEED_LOSS_WEIGHTS,
      without: options.without ?? [],
      stages: options.stages ? sha256Hex(JSON.stringify(options.stages), 16) : "preset",
      init: options.init ? basename(options.init) : null,
      pseudoLabels: options.pseudo
        ? sha256Hex(options.pseudo.map((p) => `${p.id}\t${p.label}`).join("\n"), 16)
        : null,
      trainOnVal: options.trainOnVal ?? false,
    },
  };
}

async function trainLocked(
  options: TrainOptions,
  listing: DatasetListing,
  identity: RunIdentity,
  state: "new" | "resume",
  log: (line: string) => void,
  started: number,
): Promise<TrainResult> {
  const { preset, seed = 0, out } = options;
  const checkpoints = join(out, "checkpoints");
  const leftovers = await removeStaleTemporaries(out);
  if (leftovers.length) log(`removed ${leftovers.length} temporary file(s) of an interrupted run`);
  await Deno.mkdir(checkpoints, { recursive: true });
  const config: RunConfig = {
    data: options.data,
    weights: options.weights,
    preset,
    seed,
    glu: options.glu ?? true,
    lossWeights: options.lossWeights ?? SEED_LOSS_WEIGHTS,
    identity,
  };
  // run.json first: whatever else lands in the folder is then known to belong to this run.
  if (state === "new") {
    await writeTextAtomic(join(out, "run.json"), JSON.stringify(config, null, 1));
  }
  const savedSplit = await exists(join(out, "split.tsv"));

  const data = await prepareData({
    data: options.data,
    out,
    seed: options.splitSeed ?? seed,
    size: preset.backbone.size,
    cacheDir: options.cacheDir,
    valFraction: options.valFraction,
    testFraction: options.testFraction,
    listing,
    resume: state === "resume" && savedSplit,
    onProgress: progressReporter("decode", options.progress),
  });
  reportSkipped(data.skipped, out, log);
  const cache = data.cache!;
  const backbone = buildBackbone(preset.backbone.name, {
    alpha: preset.backbone.alpha,
    size: preset.backbone.size,
  });
  const loaded = await loadPretrained(backbone, options.weights);
  log(`backbone ${backbone.spec.name}: ${loaded.loaded.length} layers from ${loaded.path}`);
  const model = buildSeedModel(backbone, { classes: data.labels.size, seed, glu: options.glu });

  // Resume after the last complete checkpoint.
  const previous = (await listCheckpoints(checkpoints)).at(-1);
  const history: HistoryRow[] = previous
    ? JSON.parse(await Deno.readTextFile(join(out, "metrics.json")).catch(() => "[]"))
      .filter((h: HistoryRow) => h.round <= previous.meta.round)
    : [];
  if (previous) log(`resuming after round ${previous.meta.round} (${previous.path})`);
  else if (options.init) {
    await loadCheckpoint(options.init, model);
    log(`starting from ${options.init}`);
  }

  const val = data.val.map((p) => ({ id: p.id, label: data.labels.toIndex(p.label) }));
  const streamConfig = (policy: PolicyName): StreamConfig => {
    const pool = trainingPool(policy, data, options);
    return poolStream(cache, pool, data.labels, {
      policy,
      without: options.without,
      seed,
      batchSize: preset.batchSize,
    });
  };

  // Inputs of the trainable part, per stage (cached mode: computed once, reused). On the wasm
  // and cpu backends the trunk runs in one worker per core; a native backend threads by itself.
  const { trunk, top } = splitBackbone(backbone);
  const trunkShape = outputShapeOf(trunk);
  const backendName = tf.getBackend();
  const workers = options.trunkWorkers ??
    (["wasm", "cpu"].includes(backendName) ? navigator.hardwareConcurrency || 1 : 1);
  let pool: TrunkPool | undefined;
  // The trunk never trains: BatchNorm folded into its convolutions, ~3x faster on wasm.
  let folded: FoldedModel | undefined;
  const frozenTrunk = () => folded ??= foldModel(trunk);
  // The unfrozen top trains through its BatchNorms folded into the convolutions (frozen
  // statistics make each an affine map; see fold.ts): same values, fewer passes per step.
  const trainableTop = foldModel(top, { trainable: true });
  const trunkPool = () =>
    pool ??= new TrunkPool({
      backend: backendName as BackendRequest,
      backbone: preset.backbone,
      weights: loaded.path,
      splitStage: backbone.spec.unfreezeFromStage,
      cacheFile: cache.file,
      cacheMeta: cache.meta,
    }, workers);
  const sets = new Map<string, ActivationSet>();
  const activations = async (policy: PolicyName): Promise<ActivationSet> => {
    if (!sets.has(policy)) {
      const progress = progressReporter(`trunk ${policy}`, options.progress);
      if (workers > 1) {
        sets.set(
          policy,
          await trunkPool().stream(
            streamConfig(policy),
            preset.cachedBatches,
            trunkShape,
            progress,
          ),
        );
      } else {
        const stream = workerStream(streamConfig(policy), 0);
        try {
          sets.set(
            policy,
            await activationsOfStream(frozenTrunk(), stream, preset.cachedBatches, progress),
          );
        } finally {
          stream.close();
        }
      }
    }
    return sets.get(policy)!;
  };
  let valTrunk: ActivationSet | undefined;
  let valPixels: ActivationSet | undefined;
  const valImages = () => (valPixels ??= photosAsInputs(cache, val));
  const valSet = async () =>
    valTrunk ??= workers > 1
      ? await trunkPool().photos(
        val,
        trunkShape,
        32,
        progressReporter("trunk val", options.progress),
      )
      : activationsOfPhotos(
        frozenTrunk(),
        cache,
        val,
        32,
        progressReporter("trunk val", options.progress),
      );

  const stages = options.stages ?? preset.stages;
  const totalRounds = stages.reduce((n, s) => n + s.rounds, 0);
  const extra = options.callbacks ?? [];
  const callbacks: Callback[] = [
    ...extra,
    metricsLogCallback(out, history),
    checkpointCallback(checkpoints, model, () => started),
  ];
  try {
    let round = 0;
    let step = 0;
    for (const [stageIndex, stage] of stages.entries()) {
      const firstRound = round + 1;
      round += stage.rounds;
      if (previous && previous.meta.round >= round) {
        step += stage.rounds * stage.stepsPerRound;
        continue; // stage already complete
      }
      prepareStage(model, stage);
      const optimizer = makeOptimizer(stage.optimizer);
      let startRound = firstRound;
      if (previous && previous.meta.round >= firstRound) {
        // Mid-stage resume: weights and this stage's optimizer state.
        await loadCheckpoint(previous.path, model, optimizer);
        startRound = previous.meta.round + 1;
      } else if (previous && stageIndex > 0 && previous.meta.round === firstRound - 1) {
        await loadCheckpoint(previous.path, model); // stage boundary: weights only, fresh optimizer
      }
      step += (startRound - firstRound) * stage.stepsPerRound;

      let source: BatchSource;
      let valInput: ActivationSet;
      let valPart: Part | null;
      let stageFolded: FoldedModel | undefined;
      if (preset.mode === "cached") {
        const set = await activations(stage.policy);
        if (stage.unfreeze) {
          source = activationSource(set, preset.batchSize, trainableTop);
          valInput = await valSet();
          valPart = trainableTop;
        } else {
          // The whole backbone is frozen: pool once, train the head alone.
          const frozenTop = foldModel(top);
          try {
            source = activationSource(mapActivations(frozenTop, set), preset.batchSize, null);
            valInput = mapActivations(frozenTop, await valSet());
          } finally {
            frozenTop.dispose();
          }
          valPart = null;
        }
      } else {
        // End to end (native TensorFlow, a GPU): fresh augmented images every step. What is frozen
        // runs folded and off the gradient tape; the unfrozen top trains through its live fold.
        const frozen = stage.unfreeze ? frozenTrunk() : (stageFolded = foldModel(backbone.model));
        const part = stage.unfreeze ? trainableTop : null;
        source = imageSource(batchMaker(streamConfig(stage.policy)), part, frozen);
        valPart = part ? chainParts(frozen, part) : frozen;
        valInput = valImages();
      }

      for (let r = startRound; r <= round; r++) {
        const info: RoundInfo = { stage, stageIndex, round: r, totalRounds, step };
        await runRound(
          model,
          info,
          source,
          valInput,
          valPart,
          optimizer,
          callbacks,
          options.lossWeights ?? SEED_LOSS_WEIGHTS,
        );
        step += stage.stepsPerRound;
      }
      optimizer.dispose();
      stageFolded?.dispose();
    }
  } finally {
    pool?.close();
    folded?.dispose();
  }
  await writeHistory(out, history);
  cache.close();
  const best = bestOf(await listCheckpoints(checkpoints));
  return {
    model,
    data,
    history,
    best,
    seconds: (performance.now() - started) / 1000,
    resumedFrom: previous?.meta.round,
  };
}

/**
 * The photos a policy's batches are drawn from. The seed's transfer trains on every labelled photo
 * (train and validation: `trainOnVal`), and its `Transfer` policies add the pseudo-labelled test
 * photos; its `Train` rounds use the labelled photos alone.
 */
export function trainingPool(
  policy: PolicyName,
  data: Pick<PreparedData, "train" | "val">,
  options: Pick<TrainOptions, "pseudo" | "trainOnVal">,
): LabelledImage[] {
  const labelled = options.trainOnVal ? [...data.train, ...data.val] : data.train;
  return POLICIES[policy].pseudoLabels ? [...labelled, ...(options.pseudo ?? [])] : labelled;
}

/** Unreadable photos on the console: how many, the first few, and where the full list is. */
function reportSkipped(skipped: readonly Skipped[], out: string, log: (line: string) => void) {
  if (!skipped.length) return;
  const first = skipped.slice(0, 3).map((s) => `  ${s.path}: ${s.problem}`);
  const more = skipped.length > 3 ? [`  ... and ${skipped.length - 3} more`] : [];
  log(
    [
      `skipped ${skipped.length} unusable photo(s) (full list: ${join(out, "skipped.tsv")}):`,
      ...first,
      ...more,
    ].join("\n"),
  );
}

function progressReporter(label: string, show = true) {
  let bar: ReturnType<typeof progressBar> | undefined;
  return (done: number, total: number) => {
    if (!show) return;
    bar ??= progressBar(label, total);
    bar.update(done);
    if (done === total) bar.done();
  };
}

/** Training batches made on demand from the augmentation stream (end-to-end mode). */
function imageSource(
  maker: ReturnType<typeof batchMaker>,
  part: Part | null,
  frozen: InferenceModel,
): BatchSource {
  return {
    part,
    frozen,
    batch(k) {
      const b = maker.make(k);
      return {
        x: tf.tensor4d(b.images, [b.n, b.size, b.size, 3]),
        labels: tf.tensor1d(b.labels, "int32"),
      };
    },
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
