/**
 * Validation metrics of the two heads and the seed's blend search: the main (GLU) and auxiliary
 * heads make partly different mistakes, so `alpha * main + (1 - alpha) * aux` can beat both; the
 * seed picks alpha on the grid 0, 0.01, ..., 1, taking the first maximum.
 */

/** Top-1 accuracy of row-major probabilities [n, classes]. */
export function accuracy(probs: Float32Array, labels: Int32Array, classes: number): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (argmaxRow(probs, i, classes) === labels[i]) correct++;
  return labels.length === 0 ? 0 : correct / labels.length;
}

export function argmaxRow(probs: Float32Array, row: number, classes: number): number {
  let best = 0;
  for (let c = 1; c < classes; c++) {
    if (probs[row * classes + c] > probs[row * classes + best]) best = c;
  }
  return best;
}

/** alpha * main + (1 - alpha) * aux. */
export function blend(main: Float32Array, aux: Float32Array, alpha: number): Float32Array {
  const out = new Float32Array(main.length);
  for (let i = 0; i < main.length; i++) out[i] = alpha * main[i] + (1 - alpha) * aux[i];
  return out;
}

export interface BlendResult {
  alpha: number;
  accuracy: number;
  /** Accuracy at every grid point (for the notebook's plot). */
  curve: { alpha: number; accuracy: number }[];
}

/**
 * Grid search over alpha in [0, 1] with `steps` intervals (the seed: 100); ties keep the first.
 *
 * @example
 * ```ts
 * const { alpha, accuracy } = searchBlend(val.main, val.aux, labels, classes);
 * ```
 */
export function searchBlend(
  main: Float32Array,
  aux: Float32Array,
  labels: Int32Array,
  classes: number,
  steps = 100,
): BlendResult {
  const curve: { alpha: number; accuracy: number }[] = [];
  let best = { alpha: 0, accuracy: -1 };
  for (let k = 0; k <= steps; k++) {
    const alpha = k / steps;
    const acc = accuracy(blend(main, aux, alpha), labels, classes);
    curve.push({ alpha, accuracy: acc });
    if (acc > best.accuracy) best = { alpha, accuracy: acc };
  }
  return { ...best, curve };
}
