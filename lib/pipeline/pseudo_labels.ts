/**
 * The test predictions as the transfer uses them: test photos labelled with the blend's answer
 * (optionally only the confident ones), and the fallback for a test photo that cannot be read (the
 * training classes' frequencies, so it still gets a line in every submission file).
 */
import type { LabelledImage } from "../data/dataset.ts";
import { type Probabilities } from "../predict/predict.ts";
import { argmaxRow, blend } from "../model/blend.ts";

/** Training-class frequencies: the fallback prediction for a test photo that cannot be read. */
export function classPrior(labels: readonly number[], classes: number): Float32Array {
  const prior = new Float32Array(classes);
  for (const label of labels) prior[label] += 1 / labels.length;
  return prior;
}

/** Predictions for `ids` plus `missing` ids answered with `prior` (both heads), sorted by id. */
export function withFallback(
  ids: readonly string[],
  probs: Probabilities,
  missing: readonly string[],
  prior: Float32Array,
): [string[], Probabilities] {
  if (!missing.length) return [[...ids], probs];
  const all = [...ids.map((id, row) => ({ id, row })), ...missing.map((id) => ({ id, row: -1 }))]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const k = probs.classes;
  const main = new Float32Array(all.length * k);
  const aux = new Float32Array(all.length * k);
  all.forEach(({ row }, i) => {
    main.set(row < 0 ? prior : probs.main.subarray(row * k, (row + 1) * k), i * k);
    aux.set(row < 0 ? prior : probs.aux.subarray(row * k, (row + 1) * k), i * k);
  });
  return [all.map((a) => a.id), { main, aux, classes: k }];
}

/** Test photos labelled with the blend's prediction (row `ids.indexOf(id)` of `probs`),
 * optionally only the confident ones. */
export function pseudoLabels(
  test: readonly { id: string; path: string }[],
  { ids, probs }: { ids: readonly string[]; probs: Probabilities },
  alpha: number,
  threshold: number,
  label: (index: number) => string,
): LabelledImage[] {
  const row = new Map(ids.map((id, i) => [id, i]));
  const p = blend(probs.main, probs.aux, alpha);
  return test.flatMap((t) => {
    const i = row.get(t.id);
    if (i === undefined) return [];
    const c = argmaxRow(p, i, probs.classes);
    return p[i * probs.classes + c] >= threshold
      ? [{ id: t.id, path: t.path, label: label(c) }]
      : [];
  });
}
