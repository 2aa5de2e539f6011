/**
 * `deno task bench:gradcam --run DIR`: does a variant of Grad-CAM show where the main head looks
 * better than the plain one (lib/predict/gradcam.ts)? The main head's maps are mostly empty: its
 * GLU logit is not a sum of positive evidence. Each variant is scored on validation photos of the
 * run, each pasted at two places on a grey canvas, by the share of the map's heat on the dog's
 * cells and how often its peak lies there; and, on whole validation photos, by the share of cells
 * the map lights.
 *
 * Variants (each the gradient at the pooled features, through the mean, as lib's gradCam):
 *   plain            the logit, against a zero reference (lib's gradCam)
 *   grey reference   w · (A_ij − b), b the pooled features of a mid-grey photo
 *   mean reference   b the mean pooled features of 200 validation photos
 *   log-probability  the gradient of log p_c instead of the logit (the part every class shares
 *                    cancels)
 */
import sharp from "sharp";
import { initBackend, tf } from "../lib/engine/tf.ts";
import { loadRun } from "../lib/run/load.ts";
import { featureMapModel } from "../lib/predict/gradcam.ts";
import { readSplit } from "../lib/data/prepare.ts";
import { cacheImages } from "../lib/data/cache.ts";
import { scaledPhotos } from "../lib/augment/batch.ts";
import type { SeedModel } from "../lib/model/seed_model.ts";
import type { InferenceModel } from "../lib/model/inference.ts";
import { benchArgs, count } from "./common.ts";

const HELP = `Usage: deno task bench:gradcam --run DIR [options]

  --run DIR      a training run folder (e.g. data/runs/levers/baseline-seed0/train)
  --photos N     validation photos pasted on grey, each at two places (default 40)

Prints, for each head and variant: the share of the heat on the dog's cells (9 of 49: 18% by
chance), how often the peak lies on the dog, and the share of cells lit (above 0.1 of the peak)
on whole validation photos.`;

const { values } = benchArgs(HELP, { run: { type: "string" }, photos: { type: "string" } });
if (!values.run) {
  console.error("error: --run DIR is required (see --help)");
  Deno.exit(2);
}
const photos = count("photos", values.photos ?? "40");

await initBackend({ quiet: true });
const run = await loadRun(values.run, "best");
const split = await readSplit(values.run);
const size = run.model.backbone.size;
const features = featureMapModel(run.model);

interface Variant {
  name: string;
  head: "main" | "aux";
  baseline?: Float32Array;
  logProbability?: boolean;
}

/** One photo's map for class c (default: the head's top breed): lib's gradCam, with a reference
 * and a log-probability option. */
function camOf(model: SeedModel, net: InferenceModel, x: Float32Array, v: Variant, c?: number) {
  return tf.tidy(() => {
    const a = net.predict(tf.tensor4d(x, [1, size, size, 3])) as tf.Tensor4D;
    const output = v.head === "main" ? 1 : 2;
    const logits = (p: tf.Tensor) =>
      (model.head.apply(p, { training: false }) as tf.Tensor[])[output] as tf.Tensor2D;
    const score = (p: tf.Tensor) => (v.logProbability ? tf.logSoftmax(logits(p)) : logits(p));
    const pooled = a.mean([1, 2]);
    const pick = tf.oneHot([c ?? logits(pooled).argMax(1).dataSync()[0]], model.classes).toFloat();
    const grad = tf.grad((p: tf.Tensor) => score(p).mul(pick).sum())(pooled);
    const w = grad.div(a.shape[1] * a.shape[2]).reshape([1, 1, 1, -1]);
    const evidence = v.baseline ? a.sub(tf.tensor(v.baseline).reshape([1, 1, 1, -1])) : a;
    const cam = tf.relu(evidence.mul(w).sum(3)).squeeze([0]);
    const values = cam.dataSync() as Float32Array;
    const peak = Math.max(...values);
    return peak > 0 ? values.map((x) => x / peak) : Float32Array.from(values);
  });
}

/** Mean pooled features of photos (scaled, [n, size, size, 3]). */
function pooledMean(x: Float32Array, n: number): Float32Array {
  return tf.tidy(() =>
    (features.predict(tf.tensor4d(x, [n, size, size, 3])) as tf.Tensor).mean([0, 1, 2])
      .dataSync() as Float32Array
  );
}

const grey = new Float32Array(size * size * 3).fill(128 / 127.5 - 1);
const reference = split.val.slice(0, 200);
const refCache = await cacheImages(reference, { size });
let sum: Float32Array | undefined;
for (let i = 0; i < reference.length; i += 20) {
  const ids = reference.slice(i, i + 20).map((p) => p.id);
  const part = pooledMean(scaledPhotos(refCache, ids), ids.length).map((v) => v * ids.length);
  sum = sum ? sum.map((s, k) => s + part[k]) : part;
}
const meanReference = sum!.map((s) => s / reference.length);
const variants: Variant[] = [
  { name: "plain", head: "main" },
  { name: "grey reference", head: "main", baseline: pooledMean(grey, 1) },
  { name: "mean reference", head: "main", baseline: meanReference },
  { name: "log-probability", head: "main", logProbability: true },
  { name: "plain", head: "aux" },
  { name: "log-probability", head: "aux", logProbability: true },
];

// A photo 96 px wide at (8, 8) covers cells 0-2 of the 7 x 7 map; at (120, 120) cells 4-6.
const pasted = split.val.slice(reference.length, reference.length + photos);
const canvases: { x: Float32Array; c: number; cells: [number, number] }[] = [];
for (const photo of pasted) {
  const dog = new Uint8Array(
    await sharp(photo.path).resize(96, 96).removeAlpha().raw().toBuffer(),
  );
  for (const [at, cells] of [[8, [0, 2]], [120, [4, 6]]] as const) {
    const rgb = new Uint8Array(size * size * 3).fill(128);
    for (let r = 0; r < 96; r++) {
      rgb.set(dog.subarray(r * 288, (r + 1) * 288), ((at + r) * size + at) * 3);
    }
    canvases.push({
      x: Float32Array.from(rgb, (v) => v / 127.5 - 1),
      c: run.labels.toIndex(photo.label),
      cells: [cells[0], cells[1]],
    });
  }
}
const whole = split.val.slice(reference.length + photos, reference.length + photos + 60);
const wholeCache = await cacheImages(whole, { size });
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

console.log(`${values.run}: ${canvases.length} pasted canvases, ${whole.length} whole photos`);
console.log("| head | variant | heat on the dog (18% by chance) | peak on the dog | cells lit |");
console.log("| --- | --- | --- | --- | --- |");
for (const v of variants) {
  const share: number[] = [];
  let peaks = 0;
  for (const { x, c, cells } of canvases) {
    const map = camOf(run.model, features, x, v, c);
    const inside = (i: number) => {
      const [r, col] = [Math.floor(i / 7), i % 7];
      return r >= cells[0] && r <= cells[1] && col >= cells[0] && col <= cells[1];
    };
    const total = map.reduce((s, m) => s + m, 0);
    share.push(total > 0 ? map.reduce((s, m, i) => (inside(i) ? s + m : s), 0) / total : 0);
    if (total > 0 && inside(map.indexOf(1))) peaks++;
  }
  const lit = whole.map((p) =>
    camOf(run.model, features, scaledPhotos(wholeCache, [p.id]), v).filter((m) => m > 0.1)
      .length / 49
  );
  console.log(
    `| ${v.head} | ${v.name} | ${(100 * mean(share)).toFixed(0)}% | ${peaks}/${canvases.length} | ${
      (100 * mean(lit)).toFixed(0)
    }% |`,
  );
}
features.dispose();
refCache.close();
wholeCache.close();
