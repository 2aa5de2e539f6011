/**
 * Turns sampled photo ids into a training batch: read, splice, rotate, zoom, flip, mask (as the
 * policy says), then scale for the backbone. Pure given its inputs, so the prefetch worker and the
 * notebooks produce identical batches.
 */
import type { RgbImage } from "../data/image.ts";
import { Rng } from "../rng.ts";
import type { Resample } from "./ops.ts";
import { applyPlan, drawPlan, type PhotoSource } from "./plan.ts";
import type { AugmentPolicy } from "./policy.ts";
import type { Sample } from "./sampler.ts";
import { renderPlan, WarpBuffers } from "./warp.ts";

export type { PhotoSource };

export interface Batch {
  /** [n, size, size, 3] floats, already scaled for the backbone. */
  images: Float32Array;
  labels: Int32Array;
  n: number;
  size: number;
}

/** Applies the policy to one sample, one operation at a time (to look at, and the reference the
 * batches' one-pass renderer is tested against). A spliced pair is two photos as they are (center
 * crop, resized), spliced, and nothing else, as the seed does it: the splice is the augmentation. */
export function augmentSample(
  sample: Sample,
  source: PhotoSource,
  policy: AugmentPolicy,
  rng: Rng,
  mode: Resample = "nearest",
): RgbImage {
  return applyPlan(drawPlan(sample, policy, rng, source.size, source.backgroundIds), source, mode);
}

/** Where scaled images go: a buffer to reuse, and their layout. */
export interface ScaleOptions {
  /** Written into when large enough. A batch is 19 MB: a fresh one each time costs more in page
   * faults than its scaling (on the project's VMs, 20-50 ms against 3-7 reused). */
  into?: Float32Array;
  /** Planar images (NCHW: each colour a plane) instead of interleaved (NHWC): ONNX Runtime's
   * trunk reads them without a transpose. */
  planar?: boolean;
}

/** Xception / MobileNet input scaling: x / 127.5 - 1, into `out` at `offset` (interleaved, or one
 * plane per colour when `planar`). */
export function scaleInto(
  pixels: Uint8Array,
  out: Float32Array,
  offset: number,
  planar = false,
): void {
  if (!planar) {
    for (let i = 0; i < pixels.length; i++) out[offset + i] = pixels[i] / 127.5 - 1;
    return;
  }
  const plane = pixels.length / 3;
  for (let p = 0, i = 0; p < plane; p++, i += 3) {
    out[offset + p] = pixels[i] / 127.5 - 1;
    out[offset + plane + p] = pixels[i + 1] / 127.5 - 1;
    out[offset + 2 * plane + p] = pixels[i + 2] / 127.5 - 1;
  }
}

function outputBuffer(length: number, options: ScaleOptions): Float32Array {
  const { into } = options;
  return into && into.length >= length ? into.subarray(0, length) : new Float32Array(length);
}

/** Cached photos as they are (center crop, no augmentation), scaled: [n, size, size, 3]. */
export function scaledPhotos(
  cache: { frameBytes: number; read(id: string, into?: Uint8Array): RgbImage },
  ids: readonly string[],
  options: ScaleOptions = {},
): Float32Array {
  const frame = cache.frameBytes;
  const out = outputBuffer(ids.length * frame, options);
  const pixels = new Uint8Array(frame);
  ids.forEach((id, i) => scaleInto(cache.read(id, pixels).data, out, i * frame, options.planar));
  return out;
}

/** Batch `k`'s samples through the policy; the augmentation stream is seeded by (seed, k). */
export function makeBatch(
  samples: readonly Sample[],
  source: PhotoSource,
  policy: AugmentPolicy,
  seed: number,
  k: number,
  mode: Resample = "nearest",
  options: ScaleOptions = {},
): Batch {
  const rng = new Rng(`augment:${seed}:${k}`);
  const frame = source.size * source.size * 3;
  const images = outputBuffer(samples.length * frame, options);
  const labels = new Int32Array(samples.length);
  const planar = options.planar ?? false;
  const buffers = new WarpBuffers(source.size);
  samples.forEach((sample, i) => {
    const plan = drawPlan(sample, policy, rng, source.size, source.backgroundIds);
    // Nearest resampling (the seed's) renders in one pass; bilinear goes op by op.
    if (mode === "nearest") {
      renderPlan(plan, source, { out: images, offset: i * frame, planar }, buffers);
    } else scaleInto(applyPlan(plan, source, mode).data, images, i * frame, planar);
    labels[i] = sample.label;
  });
  return { images, labels, n: samples.length, size: source.size };
}

/** A batch's samples back as 8-bit images (to look at what the network is fed). */
export function batchImages(batch: Batch): RgbImage[] {
  const frame = batch.size * batch.size * 3;
  return Array.from({ length: batch.n }, (_, i) => {
    const data = new Uint8Array(frame);
    for (let j = 0; j < frame; j++) data[j] = Math.round((batch.images[i * frame + j] + 1) * 127.5);
    return { width: batch.size, height: batch.size, data };
  });
}
