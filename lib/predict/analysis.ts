/** Looking at predictions: per-class accuracy, the confusion matrix, the most confident mistakes. */
import { argmaxRow } from "../train/blend.ts";

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
