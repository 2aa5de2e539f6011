/** Looking at predictions: per-class accuracy, the confusion matrix, the most confident mistakes. */
import { argmaxRow, blend } from "../model/blend.ts";

/** counts[true][predicted]. */
export function confusionMatrix(
  probs: Float32Array,
  labels: Int32Array,
  classes: number,
): number[][] {
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][argmaxRow(probs, i, classes)]++;
  return m;
}

/** Accuracy of each class (the diagonal over the row sums). */
export function perClassAccuracy(matrix: number[][]): number[] {
  return matrix.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total === 0 ? 0 : row[c] / total;
  });
}

export interface Mistake {
  index: number;
  label: number;
  predicted: number;
  confidence: number;
}

/** Wrong predictions, most confident first. */
export function confidentMistakes(
  probs: Float32Array,
  labels: Int32Array,
  classes: number,
  n = 12,
): Mistake[] {
  const mistakes: Mistake[] = [];
  for (let i = 0; i < labels.length; i++) {
    const predicted = argmaxRow(probs, i, classes);
    if (predicted !== labels[i]) {
      mistakes.push({
        index: i,
        label: labels[i],
        predicted,
        confidence: probs[i * classes + predicted],
      });
    }
  }
  return mistakes.sort((a, b) => b.confidence - a.confidence).slice(0, n);
}

export interface Loss {
  index: number;
  label: number;
  predicted: number;
  /** Cross-entropy of the true breed, -ln p(truth): what training minimised. */
  loss: number;
  /** The probability the true breed got. */
  truth: number;
}

/** The photos with the largest loss (fastai's `plot_top_losses`): the mistakes made with the most
 * confidence in the wrong breed, and also right guesses made with little confidence in the truth. */
export function topLosses(
  probs: Float32Array,
  labels: Int32Array,
  classes: number,
  n = 12,
): Loss[] {
  return Array.from(labels, (label, index) => {
    const truth = probs[index * classes + label];
    return {
      index,
      label,
      predicted: argmaxRow(probs, index, classes),
      loss: -Math.log(Math.max(truth, 1e-12)),
      truth,
    };
  }).sort((a, b) => b.loss - a.loss).slice(0, n);
}

export interface Confidence {
  id: string;
  /** The blend's class and its blended probability. */
  predicted: number;
  confidence: number;
  /** Whether the prediction is right, where the answer is known. */
  correct?: boolean;
}

/** Each photo's blended prediction and its probability: what a pseudo-label threshold sees.
 * `truth[i]` is photo i's class, or -1 when unknown. */
export function confidences(
  ids: readonly string[],
  probs: { main: Float32Array; aux: Float32Array; classes: number },
  alpha: number,
  truth?: Int32Array,
): Confidence[] {
  const p = blend(probs.main, probs.aux, alpha);
  return ids.map((id, i) => {
    const predicted = argmaxRow(p, i, probs.classes);
    const confidence = p[i * probs.classes + predicted];
    const known = truth && truth[i] >= 0;
    return { id, predicted, confidence, ...(known ? { correct: truth[i] === predicted } : {}) };
  });
}

export interface ConfidenceBin {
  bin: string;
  photos: number;
  wrong: number;
  /** Share of the bin's photos with a known answer that are wrong. */
  wrongShare: number;
}

/** Photos and mistakes per confidence bin (`edges` ascending, from 0 to 1). */
export function byConfidence(
  rows: readonly Confidence[],
  edges: readonly number[] = [0, 0.5, 0.7, 0.9, 0.99, 1],
): ConfidenceBin[] {
  return edges.slice(0, -1).map((lo, b) => {
    const hi = edges[b + 1];
    const last = b === edges.length - 2;
    const inBin = rows.filter((r) => r.confidence >= lo && (r.confidence < hi || last));
    const known = inBin.filter((r) => r.correct !== undefined);
    const wrong = known.filter((r) => !r.correct).length;
    return {
      bin: `${lo.toFixed(2)}–${hi.toFixed(2)}`,
      photos: inBin.length,
      wrong,
      wrongShare: known.length ? wrong / known.length : 0,
    };
  });
}

/** Class indices of `ids` from an answers map (dataset labels); -1 where there is no answer. */
export function truthOf(
  ids: readonly string[],
  answers: ReadonlyMap<string, string>,
  toIndex: (label: string) => number,
): Int32Array {
  return Int32Array.from(ids, (id) => {
    const label = answers.get(id);
    return label === undefined ? -1 : toIndex(label);
  });
}
