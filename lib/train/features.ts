/**
 * Running frozen parts of the network once instead of at every step. On a CPU the trunk of the
 * backbone (everything before the unfrozen blocks) costs most of a step, and it never changes:
 * its activations are computed once per augmented sample (or per validation photo) and training
 * runs only the top. Batches of the cache are the stream's batches 0..K-1, so which samples are
 * cached is as reproducible as the stream itself.
 */
import type { BatchStream } from "../augment/pipeline.ts";
import { scaledPhotos } from "../augment/batch.ts";
import type { ImageCache } from "../data/cache.ts";
import { type BatchRunner, runInChunks } from "../model/runner.ts";

/** Activations [n, ...shape] with their labels. */
export interface ActivationSet {
  x: Float32Array;
  labels: Int32Array;
  n: number;
  /** Per-sample shape, e.g. [7, 7, 56] for a trunk or [1280] for pooled features. */
  shape: number[];
  /** The stream batches it holds, in order, when they are not simply 0, 1, 2, ... (a stage
   * caches only the batches its steps will read). */
  batches?: number[];
}

export function sampleSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Applies a runner (a frozen part on tfjs or ONNX Runtime) to an activation set, in chunks. */
export async function mapActivations(
  runner: BatchRunner,
  input: ActivationSet,
  chunk = 64,
): Promise<ActivationSet> {
  const [x] = await runInChunks(runner, input.x, input.n, chunk);
  return { ...input, x, shape: runner.outputShapes[0] };
}

/**
 * The stream batches a policy's steps read, in order: step k reads batch k mod `cycle` (the
 * cached batches cycle when a policy's steps outnumber them). A stage of 300 steps over a cycle
 * of 480 reads 300 of them; the other 180 are never computed.
 */
export function batchesRead(
  stages: readonly { firstStep: number; steps: number }[],
  cycle: number,
): number[] {
  const read = new Set<number>();
  for (const { firstStep, steps } of stages) {
    for (let k = firstStep; k < firstStep + Math.min(steps, cycle); k++) read.add(k % cycle);
  }
  return [...read].sort((a, b) => a - b);
}

/** The trunk's activations for the first `batches` batches of a stream. */
export async function activationsOfStream(
  trunk: BatchRunner,
  stream: BatchStream,
  batches: number,
  onProgress?: (done: number, total: number) => void,
): Promise<ActivationSet> {
  const shape = trunk.outputShapes[0];
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
    const [values] = await trunk.run(batch.images, batch.n);
    x.set(values, n * size);
    labels.set(batch.labels, n);
    n += batch.n;
    onProgress?.(b + 1, batches);
  }
  return { x, labels, n, shape };
}

/** The trunk's activations for cached photos as they are (center crop, no augmentation). */
export async function activationsOfPhotos(
  trunk: BatchRunner,
  cache: ImageCache,
  photos: readonly { id: string; label: number }[],
  chunk = 32,
  onProgress?: (done: number, total: number) => void,
): Promise<ActivationSet> {
  const shape = trunk.outputShapes[0];
  const size = sampleSize(shape);
  const x = new Float32Array(photos.length * size);
  for (let start = 0; start < photos.length; start += chunk) {
    const n = Math.min(chunk, photos.length - start);
    const images = scaledPhotos(cache, photos.slice(start, start + n).map((p) => p.id));
    const [values] = await trunk.run(images, n);
    x.set(values, start * size);
    onProgress?.(start + n, photos.length);
  }
  return { x, labels: Int32Array.from(photos, (p) => p.label), n: photos.length, shape };
}
