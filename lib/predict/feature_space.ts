/**
 * The space the center loss shapes: the 64 GLU features the main head reads, per photo, and how
 * tightly each breed gathers there. The center loss pulls each photo's features toward a learned
 * center of its breed; `spread` puts one number on what a 2-D projection (PCA, `project`) shows:
 * the mean distance of a photo to its breed's mean, over the mean distance between the breeds'
 * means. Smaller: breeds are tighter clusters, farther apart.
 */
import { PCA } from "ml-pca";
import { onnxRunner } from "../model/runner.ts";
import { initBackend } from "../engine/tf.ts";
import { scaledPhotos } from "../augment/batch.ts";
import type { ImageCache } from "../data/cache.ts";
import type { SeedModel } from "../model/seed_model.ts";

/** The GLU features [n, units] of cached photos (center crop, as validation sees them). */
export async function gluFeatures(
  model: SeedModel,
  cache: ImageCache,
  ids: readonly string[],
): Promise<{ values: Float32Array; units: number }> {
  const { engineThreads } = await initBackend({ quiet: true });
  const runner = await onnxRunner([model.backbone.model, model.head], {
    outputs: [0],
    threads: engineThreads,
  });
  const units = runner.outputShapes[0][0];
  const values = new Float32Array(ids.length * units);
  try {
    for (let start = 0; start < ids.length; start += 32) {
      const part = ids.slice(start, start + 32);
      const [out] = await runner.run(scaledPhotos(cache, part), part.length);
      values.set(out, start * units);
    }
  } finally {
    await runner.dispose();
  }
  return { values, units };
}

const rows = (values: Float32Array, units: number) =>
  Array.from(
    { length: values.length / units },
    (_, i) => Array.from(values.subarray(i * units, (i + 1) * units)),
  );

/** Each class's mean feature vector (classes without photos: undefined). */
export function classMeans(
  values: Float32Array,
  units: number,
  labels: readonly number[],
  classes: number,
): (number[] | undefined)[] {
  const sums = Array.from({ length: classes }, () => new Array<number>(units).fill(0));
  const counts = new Array<number>(classes).fill(0);
  rows(values, units).forEach((row, i) => {
    counts[labels[i]]++;
    row.forEach((v, u) => (sums[labels[i]][u] += v));
  });
  return sums.map((sum, c) => (counts[c] ? sum.map((v) => v / counts[c]) : undefined));
}

const distance = (a: readonly number[], b: readonly number[]) =>
  Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0));

/** Mean distance of a photo to its class's mean, mean distance between class means, and their
 * ratio (smaller: tighter, better separated breeds). */
export function spread(
  values: Float32Array,
  units: number,
  labels: readonly number[],
  classes: number,
): { within: number; between: number; ratio: number } {
  const means = classMeans(values, units, labels, classes);
  const all = rows(values, units);
  const within = all.reduce((s, row, i) => s + distance(row, means[labels[i]]!), 0) / all.length;
  const present = means.filter((m): m is number[] => m !== undefined);
  let total = 0;
  let pairs = 0;
  for (let a = 0; a < present.length; a++) {
    for (let b = a + 1; b < present.length; b++, pairs++) total += distance(present[a], present[b]);
  }
  const between = pairs ? total / pairs : 0;
  return { within, between, ratio: between ? within / between : Infinity };
}

/**
 * Photos' features, and any extra points (e.g. the learned centers), projected on the first two
 * principal components of the photos' features.
 */
export function project(
  values: Float32Array,
  units: number,
  extra: readonly (readonly number[])[] = [],
): { points: [number, number][]; extra: [number, number][]; explained: [number, number] } {
  const data = rows(values, units);
  const pca = new PCA(data);
  const two = (m: number[][]) =>
    (pca.predict(m, { nComponents: 2 }).to2DArray() as number[][]).map(
      ([x, y]) => [x, y] as [number, number],
    );
  const [a, b] = pca.getExplainedVariance();
  return {
    points: two(data),
    extra: extra.length ? two(extra.map((r) => [...r])) : [],
    explained: [a, b],
  };
}
