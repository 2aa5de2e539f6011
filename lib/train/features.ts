/**
 * Running frozen parts of the network once instead of at every step. On a CPU the trunk of the
 * backbone (everything before the unfrozen blocks) costs most of a step, and it never changes:
 * its activations are computed once per augmented sample (or per validation photo) and training
 * runs only the top. Batches of the cache are the stream's batches 0..K-1, so which samples are
 * cached is as reproducible as the stream itself.
 */
import { readValues, tf } from "../engine/tf.ts";
import type { BatchStream } from "../augment/pipeline.ts";
import { scaledPhotos } from "../augment/batch.ts";
import type { ImageCache } from "../data/cache.ts";
import { applyPart, outputShapeOf, type Part } from "../model/inference.ts";

/** Activations [n, ...shape] with their labels. */
export interface ActivationSet {
  x: Float32Array;
  labels: Int32Array;
  n: number;
  /** Per-sample shape, e.g. [7, 7, 56] for a trunk or [1280] for pooled features. */
  shape: number[];
}

export function sampleSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Applies `model` (inference) to an activation set, in chunks. */
export async function mapActivations(
  model: Part,
  input: ActivationSet,
  chunk = 64,
): Promise<ActivationSet> {
  const outShape = outputShapeOf(model);
  const out = new Float32Array(input.n * sampleSize(outShape));
  const inSize = sampleSize(input.shape);
  for (let start = 0; start < input.n; start += chunk) {
    const n = Math.min(chunk, input.n - start);
    const values = await readValues(tf.tidy(() => {
      const x = tf.tensor(input.x.subarray(start * inSize, (start + n) * inSize), [
        n,
        ...input.shape,
      ]);
      return applyPart(model, x);
    }));
    out.set(values, start * sampleSize(outShape));
  }
  return { x: out, labels: input.labels, n: input.n, shape: outShape };
}

/** The trunk's activations for the first `batches` batches of a stream. */
export async function activationsOfStream(
  trunk: Part,
  stream: BatchStream,
  batches: number,
  onProgress?: (done: number, total: number) => void,
): Promise<ActivationSet> {
  const shape = outputShapeOf(trunk);
  const size = sampleSize(shape);
  let x = new Float32Array(0);
  let labels = new Int32Array(0);
  let n = 0;
  for (let b = 0; b < batches; b++) {
    const batch = await stream.next();
    if (b === 0) {
      x = new Float32Array(batches * batch.n * size);
      labels = new Int32Array(batches * batch.n);
    }
    const values = await readValues(tf.tidy(() => {
      const images = tf.tensor4d(batch.images, [batch.n, batch.size, batch.size, 3]);
      return applyPart(trunk, images);
    }));
    x.set(values, n * size);
    labels.set(batch.labels, n);
    n += batch.n;
    onProgress?.(b + 1, batches);
  }
  return { x, labels, n, shape };
}

/** The trunk's activations for cached photos as they are (center crop, no augmentation). */
export async function activationsOfPhotos(
  trunk: Part,
  cache: ImageCache,
  photos: readonly { id: string; label: number }[],
  chunk = 32,
  onProgress?: (done: number, total: number) => void,
): Promise<ActivationSet> {
  const shape = outputShapeOf(trunk);
  const size = sampleSize(shape);
  const x = new Float32Array(photos.length * size);
  for (let start = 0; start < photos.length; start += chunk) {
    const n = Math.min(chunk, photos.length - start);
    const images = scaledPhotos(cache, photos.slice(start, start + n).map((p) => p.id));
    const values = await readValues(tf.tidy(() => {
      const t = tf.tensor4d(images, [n, cache.size, cache.size, 3]);
      return applyPart(trunk, t);
    }));
    x.set(values, start * size);
    onProgress?.(start + n, photos.length);
  }
  return { x, labels: Int32Array.from(photos, (p) => p.label), n: photos.length, shape };
}
