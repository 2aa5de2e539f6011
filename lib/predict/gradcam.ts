/**
 * Grad-CAM (Selvaraju et al. 2017): where in a photo a head found the evidence for a breed. The
 * backbone's last feature map A (7 x 7 x 1280 for MobileNetV2 at 224) is weighted channel by
 * channel by the mean gradient of the head's logit for the breed, summed, and kept where positive.
 *
 * The seed's heads read A only through the global average pooling, so each channel's weight is
 * the gradient at the pooled features divided by the map's area: the gradient comes from the
 * heads alone, a few dense layers, and tfjs computes it on any backend. The feature map comes from
 * the same backbone, run by tfjs with BatchNorm folded (ONNX Runtime's forward engine gives no
 * gradients, and needs none here).
 */
import { tf } from "../engine/tf.ts";
import type { SeedModel } from "../model/seed_model.ts";
import { type FoldedModel, foldModel } from "../model/fold.ts";
import type { InferenceModel } from "../model/inference.ts";
import type { ImageCache } from "../data/cache.ts";
import type { RgbImage } from "../data/image.ts";
import { scaledPhotos } from "../augment/batch.ts";

export type Head = "main" | "aux";

export interface Heatmap {
  /** The map's side (7 for 224 px photos), values row by row, scaled to 0..1 (its maximum 1). */
  side: number;
  values: Float32Array;
  /** The breed (class index) it explains, and which head. */
  classIndex: number;
  head: Head;
}

/** The backbone up to its last feature map (what its global pooling reads), BatchNorm folded
 * (its own folded weights: `dispose()` it when done; the run's model stays whole). */
export function featureMapModel(model: SeedModel): FoldedModel {
  const net = model.backbone.model;
  const pool = net.layers.find((l) => l.getClassName() === "GlobalAveragePooling2D");
  if (!pool) throw new Error("Grad-CAM: the backbone has no global average pooling");
  const features = tf.model({
    inputs: net.inputs,
    outputs: pool.input as tf.SymbolicTensor,
    name: "feature_map",
  });
  return foldModel(features);
}

/**
 * Grad-CAM heatmaps of each photo (`images`: [n, size, size, 3] scaled as the model reads them)
 * for `classes[i]` (default: the head's own top breed) under one head.
 */
export async function gradCam(
  model: SeedModel,
  features: InferenceModel,
  images: Float32Array,
  n: number,
  { head = "main", classes }: { head?: Head; classes?: readonly number[] } = {},
): Promise<Heatmap[]> {
  const size = model.backbone.size;
  const output = head === "main" ? 1 : 2;
  const maps: Heatmap[] = [];
  for (let i = 0; i < n; i++) {
    const photo = images.subarray(i * size * size * 3, (i + 1) * size * size * 3);
    const [cam, best] = tf.tidy(() => {
      const a = features.predict(tf.tensor4d(photo, [1, size, size, 3])) as tf.Tensor4D;
      const logits = (pooled: tf.Tensor) =>
        (model.head.apply(pooled, { training: false }) as tf.Tensor[])[output] as tf.Tensor2D;
      const pooled = a.mean([1, 2]);
      const c = classes?.[i] ?? logits(pooled).argMax(1).dataSync()[0];
      // d logit_c / d pooled, then the chain rule through the mean: / (h * w). The logit is picked
      // by a one-hot product: gather's gradient has no wasm kernel.
      const pick = tf.oneHot([c], model.classes).toFloat();
      const grad = tf.grad((p: tf.Tensor) => logits(p).mul(pick).sum())(pooled);
      const weights = grad.div(a.shape[1] * a.shape[2]).reshape([1, 1, 1, -1]);
      return [tf.relu(a.mul(weights).sum(3)).squeeze([0]), tf.scalar(c)];
    });
    const [values, c] = [await cam.data() as Float32Array, (await best.data())[0]];
    const side = cam.shape[0];
    tf.dispose([cam, best]);
    const peak = Math.max(...values);
    maps.push({
      side,
      values: peak > 0 ? values.map((v) => v / peak) : values,
      classIndex: c,
      head,
    });
  }
  return maps;
}

/** The heatmap at `size` x `size` (bilinear, the map's cells centred on their pixels). */
export function upsample(map: Heatmap, size: number): Float32Array {
  const out = new Float32Array(size * size);
  const s = map.side;
  const at = (y: number, x: number) =>
    map.values[Math.min(s - 1, Math.max(0, y)) * s + Math.min(s - 1, Math.max(0, x))];
  for (let y = 0; y < size; y++) {
    const fy = ((y + 0.5) * s) / size - 0.5;
    const y0 = Math.floor(fy);
    const dy = fy - y0;
    for (let x = 0; x < size; x++) {
      const fx = ((x + 0.5) * s) / size - 0.5;
      const x0 = Math.floor(fx);
      const dx = fx - x0;
      out[y * size + x] = (1 - dy) * ((1 - dx) * at(y0, x0) + dx * at(y0, x0 + 1)) +
        dy * ((1 - dx) * at(y0 + 1, x0) + dx * at(y0 + 1, x0 + 1));
    }
  }
  return out;
}

/** A photo (RGB, `size` x `size`) with the heatmap laid over it: transparent where the map is 0,
 * through yellow to red where it is 1 (a "hot" scale that keeps the photo readable). */
export function overlay(rgb: Uint8Array, size: number, map: Heatmap, strength = 0.6): Uint8Array {
  const heat = upsample(map, size);
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < size * size; p++) {
    const h = heat[p];
    const a = strength * h;
    // hot: black-red-yellow; at h = 1, red 255, green 255 * h^2 faded toward red.
    const color = [255, 255 * Math.max(0, 1 - 2 * (1 - h)), 0];
    for (let c = 0; c < 3; c++) {
      out[3 * p + c] = Math.round((1 - a) * rgb[3 * p + c] + a * color[c]);
    }
  }
  return out;
}

/**
 * Cached photos as the model saw them, each with its Grad-CAM heatmap laid over it (`overlay`), and
 * the maps. One photo at a time: a folder of photos never becomes one batch. The feature-map model
 * is built and freed here unless `features` hands one in (a caller with many calls keeps one).
 */
export async function heatmapOverlays(
  model: SeedModel,
  cache: ImageCache,
  ids: readonly string[],
  options: { head?: Head; classes?: readonly number[]; features?: InferenceModel } = {},
): Promise<{ maps: Heatmap[]; images: RgbImage[] }> {
  const own = options.features ? undefined : featureMapModel(model);
  const features = options.features ?? own!;
  const size = model.backbone.size;
  const maps: Heatmap[] = [];
  const images: RgbImage[] = [];
  try {
    for (const [i, id] of ids.entries()) {
      const classes = options.classes && [options.classes[i]];
      const [map] = await gradCam(model, features, scaledPhotos(cache, [id]), 1, {
        head: options.head,
        classes,
      });
      maps.push(map);
      images.push({ width: size, height: size, data: overlay(cache.read(id).data, size, map) });
    }
  } finally {
    own?.dispose();
  }
  return { maps, images };
}
