/**
 * Prediction: main and aux probabilities for photos (center crop, as validation and test see
 * them), batched, optionally averaged with the horizontally flipped photo (test-time augmentation,
 * beyond the seed). And which checkpoint of a run folder predicts.
 */
import { initBackend, readValues, tf } from "../engine/tf.ts";
import { type BatchRunner, onnxRunner } from "../model/runner.ts";
import { scaledPhotos } from "../augment/batch.ts";
import type { ImageCache } from "../data/cache.ts";
import type { SeedModel } from "../model/seed_model.ts";
import { foldModel } from "../model/fold.ts";
import { bestOf, listCheckpoints } from "../run/checkpoint.ts";
import { type LoadedRun, loadRun } from "../run/load.ts";
import { DataError } from "../errors.ts";
import { exists, readJsonIfAny } from "../files.ts";
import { jobFiles, runFiles } from "../layout.ts";
import { presetFlip } from "../run/presets.ts";
import { DEFAULTS } from "../defaults.ts";

export interface Probabilities {
  /** Row-major [n, classes]. */
  main: Float32Array;
  aux: Float32Array;
  classes: number;
}

export interface PredictOptions {
  /** Average with the mirrored photo. */
  flip?: boolean;
  /** The engine (default: the one the backend notice names). */
  engine?: "onnxruntime" | "tfjs";
  chunk?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Main and aux probabilities of photos in the cache, center-cropped.
 *
 * @example
 * ```ts
 * const run = await loadRun("data/runs/notebook-cpu/train");
 * const probs = await predictPhotos(run.model, cache, ids, { flip: true });
 * ```
 */
export async function predictPhotos(
  model: SeedModel,
  cache: ImageCache,
  ids: readonly string[],
  { flip = DEFAULTS.flip, chunk = 32, onProgress, engine }: PredictOptions = {},
): Promise<Probabilities> {
  const runner = await predictionRunner(model, engine);
  const classes = model.classes;
  const main = new Float32Array(ids.length * classes);
  const aux = new Float32Array(ids.length * classes);
  try {
    for (let start = 0; start < ids.length; start += chunk) {
      const n = Math.min(chunk, ids.length - start);
      const images = scaledPhotos(cache, ids.slice(start, start + n));
      let [pm, pa] = await runner.run(images, n);
      if (flip) {
        const [fm, fa] = await runner.run(mirrored(images, n, cache.size), n);
        pm = pm.map((v, i) => (v + fm[i]) / 2);
        pa = pa.map((v, i) => (v + fa[i]) / 2);
      }
      main.set(pm, start * classes);
      aux.set(pa, start * classes);
      onProgress?.(start + n, ids.length);
    }
  } finally {
    await runner.dispose();
  }
  return { main, aux, classes };
}

/**
 * Image -> [main, aux] probabilities on the forward engine: one ONNX Runtime session of the whole
 * model, or on tfjs the backbone with BatchNorm folded into its convolutions (the weights do not
 * change while predicting) and the heads.
 */
async function predictionRunner(
  model: SeedModel,
  asked?: "onnxruntime" | "tfjs",
): Promise<BatchRunner> {
  const size = model.backbone.size;
  const { engine, engineThreads } = await initBackend({ quiet: true });
  if ((asked ?? engine) === "onnxruntime") {
    return await onnxRunner([model.backbone.model, model.head], {
      outputs: [1, 2],
      softmax: true,
      threads: engineThreads,
    });
  }
  const backbone = foldModel(model.backbone.model);
  return {
    engine: "tfjs",
    inputShape: [size, size, 3],
    outputShapes: [[model.classes], [model.classes]],
    run: async (images, n) => {
      const both = await readValues(tf.tidy(() => {
        const x = tf.tensor4d(images, [n, size, size, 3]);
        const [, main, aux] = model.head.apply(backbone.predict(x), {
          training: false,
        }) as tf.Tensor[];
        return tf.stack([tf.softmax(main), tf.softmax(aux)]);
      }));
      return [both.slice(0, n * model.classes), both.slice(n * model.classes)];
    },
    dispose: () => Promise.resolve(backbone.dispose()),
  };
}

/** A batch of NHWC images, each mirrored left to right. */
export function mirrored(images: Float32Array, n: number, size: number): Float32Array {
  const out = new Float32Array(images.length);
  const row = size * 3;
  for (let i = 0; i < n * size; i++) {
    for (let x = 0; x < size; x++) {
      const from = i * row + x * 3;
      const to = i * row + (size - 1 - x) * 3;
      out[to] = images[from];
      out[to + 1] = images[from + 1];
      out[to + 2] = images[from + 2];
    }
  }
  return out;
}

/** What predicts for a run folder: the model, its labels, and the blend weight. */
export interface FinalModel extends LoadedRun {
  /** The blend weight chosen on validation (the best checkpoint of the training stages). */
  alpha: number;
  /** Which checkpoint and alpha, in words, for messages (one alpha: the one in use). */
  description: string;
  /** The run folder whose split (split.tsv, test_answers.tsv) the model was trained on. */
  splitFolder: string;
  /** Whether its predictions average each photo with its mirror image, as its submissions do: what
   * a job folder was made with (reproduce.json), else the preset's choice. */
  flip: boolean;
}

/**
 * The model a run folder's submissions come from. A training run (`deno task train`, notebook
 * 03): its best checkpoint and that checkpoint's alpha. A reproduce folder: after transfer, the
 * transfer's last checkpoint with the alpha of the training stages' best (what the final
 * submissions use); without transfer, the training stages' best.
 */
export async function loadFinalModel(dir: string): Promise<FinalModel> {
  const info = await Deno.stat(dir).catch(() => undefined);
  if (!info) throw new DataError(dir, "no such folder: --run names a run folder");
  if (!info.isDirectory) throw new DataError(dir, "not a folder: --run names a run folder");
  if (await exists(runFiles(dir).config)) {
    const run = await loadRun(dir, "best");
    const alpha = run.checkpoint.meta.metrics.alpha;
    return {
      ...run,
      alpha,
      description: bestDescription(run.checkpoint.path, alpha),
      splitFolder: dir,
      flip: presetFlip(run.config.preset),
    };
  }
  const { train, transfer } = jobFiles(dir);
  if (!(await exists(runFiles(train).config))) {
    throw new DataError(dir, "not a run folder (no run.json, no train/run.json)");
  }
  const best = bestOf(await listCheckpoints(runFiles(train).checkpoints));
  if (!best) throw new DataError(train, "no complete checkpoint (train first)");
  const alpha = best.meta.metrics.alpha;
  const record = await readJsonIfAny<{ flip?: boolean }>(
    jobFiles(dir).record,
    "remove it and run the job again with the options it was started with",
  );
  const flipOf = (run: LoadedRun) => record?.flip ?? presetFlip(run.config.preset);
  const transferred = await exists(runFiles(transfer).config) &&
    (await listCheckpoints(runFiles(transfer).checkpoints)).length > 0;
  if (!transferred) {
    const base = await loadRun(train, "best");
    return {
      ...base,
      alpha,
      description: bestDescription(base.checkpoint.path, alpha),
      splitFolder: train,
      flip: flipOf(base),
    };
  }
  const tuned = await loadRun(transfer, "latest");
  return {
    ...tuned,
    alpha,
    description: `the transfer's last checkpoint ${tuned.checkpoint.path}, blended at alpha ` +
      `${alpha.toFixed(2)}, the training stages' choice, as the final submissions are (the ` +
      `name's alpha is the transfer round's own search, on photos it trained on)`,
    splitFolder: train,
    flip: flipOf(tuned),
  };
}

const bestDescription = (path: string, alpha: number) =>
  `best checkpoint ${path}, blended at its alpha ${alpha.toFixed(2)}`;
