/**
 * Prediction: main and aux probabilities for photos (center crop, as validation and test see
 * them), batched, optionally averaged with the horizontally flipped photo (test-time augmentation,
 * beyond the seed). And which checkpoint of a run folder predicts.
 */
import { join } from "node:path";
import { readValues, tf } from "../engine/tf.ts";
import { scaledPhotos } from "../augment/batch.ts";
import type { ImageCache } from "../data/cache.ts";
import type { SeedModel } from "../model/seed_model.ts";
import { foldModel } from "../model/fold.ts";
import { bestOf, listCheckpoints } from "../run/checkpoint.ts";
import { type LoadedRun, loadRun } from "../run/load.ts";
import { DataError } from "../errors.ts";
import { exists } from "../files.ts";

export interface Probabilities {
  /** Row-major [n, classes]. */
  main: Float32Array;
  aux: Float32Array;
  classes: number;
}

export interface PredictOptions {
  /** Average with the mirrored photo. */
  flip?: boolean;
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
  { flip = false, chunk = 32, onProgress }: PredictOptions = {},
): Promise<Probabilities> {
  // The weights do not change while predicting: BatchNorm folded into the convolutions.
  const backbone = foldModel(model.backbone.model);
  const probabilities = (x: tf.Tensor): tf.Tensor[] => {
    const [, main, aux] = model.head.apply(backbone.predict(x), { training: false }) as tf.Tensor[];
    return [tf.softmax(main), tf.softmax(aux)];
  };
  const classes = model.classes;
  const main = new Float32Array(ids.length * classes);
  const aux = new Float32Array(ids.length * classes);
  try {
    for (let start = 0; start < ids.length; start += chunk) {
      const n = Math.min(chunk, ids.length - start);
      const images = scaledPhotos(cache, ids.slice(start, start + n));
      const both = await readValues(tf.tidy(() => {
        const x = tf.tensor4d(images, [n, cache.size, cache.size, 3]);
        let [pm, pa] = probabilities(x);
        if (flip) {
          const [fm, fa] = probabilities(tf.reverse(x, 2));
          pm = tf.div(tf.add(pm, fm), 2);
          pa = tf.div(tf.add(pa, fa), 2);
        }
        return tf.stack([pm, pa]);
      }));
      main.set(both.subarray(0, n * classes), start * classes);
      aux.set(both.subarray(n * classes), start * classes);
      onProgress?.(start + n, ids.length);
    }
  } finally {
    backbone.dispose();
  }
  return { main, aux, classes };
}

/** What predicts for a run folder: the model, its labels, and the blend weight. */
export interface FinalModel extends LoadedRun {
  /** The blend weight chosen on validation (the best checkpoint of the training stages). */
  alpha: number;
  /** Which checkpoint, in words, for messages. */
  description: string;
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
  if (await exists(join(dir, "run.json"))) {
    const run = await loadRun(dir, "best");
    const alpha = run.checkpoint.meta.metrics.alpha;
    return { ...run, alpha, description: `best checkpoint ${run.checkpoint.path}` };
  }
  if (!(await exists(join(dir, "train", "run.json")))) {
    throw new DataError(dir, "not a run folder (no run.json, no train/run.json)");
  }
  const best = bestOf(await listCheckpoints(join(dir, "train", "checkpoints")));
  if (!best) throw new DataError(join(dir, "train"), "no complete checkpoint (train first)");
  const alpha = best.meta.metrics.alpha;
  const transferred = await exists(join(dir, "transfer", "run.json")) &&
    (await listCheckpoints(join(dir, "transfer", "checkpoints"))).length > 0;
  if (!transferred) {
    const base = await loadRun(join(dir, "train"), "best");
    return { ...base, alpha, description: `best checkpoint ${base.checkpoint.path}` };
  }
  const tuned = await loadRun(join(dir, "transfer"), "latest");
  return { ...tuned, alpha, description: `transfer checkpoint ${tuned.checkpoint.path}` };
}
