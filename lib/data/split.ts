/**
 * The seed's per-class split: every class is shuffled on its own and a fixed fraction of it is
 * held out, so a rare breed is not missing from validation by bad luck, and every class keeps at
 * least one training photo (a class of one photo is all training).
 */
import type { Rng } from "../rng.ts";
import type { LabelMap } from "./labels.ts";

export interface SplitOptions {
  /** Fraction of each class held out; the seed uses 0.1. */
  fraction: number;
  rng: Rng;
  /** How many of a class are held out: the seed's count (validation, the default) or a plain
   * floor of the fraction (the test part this project carves off a labelled dataset). */
  count?: (n: number, fraction: number) => number;
}

export interface ClassSplit {
  label: string;
  index: number;
  kept: number;
  heldOut: number;
}

export interface Split<T> {
  kept: T[];
  heldOut: T[];
  perClass: ClassSplit[];
}

/**
 * How many of a class of n photos the seed holds out for validation: it keeps the first
 * `int(n * 0.9)` of the shuffled class and validates on the rest, so `n - floor(n * (1 - f))`
 * (one more than floor(n * f) whenever n * 0.9 is not whole: 3 of 29). One deliberate difference:
 * a class of one photo keeps it for training (the seed would leave that class nothing to train on).
 */
export function heldOutCount(n: number, fraction: number): number {
  checkFraction(fraction);
  return Math.max(0, Math.min(n - 1, n - Math.floor(n * (1 - fraction))));
}

/** floor(n * fraction), leaving at least one: the test part carved off a labelled dataset (not
 * the seed's; kept as it was, so carved test parts stay comparable across versions). */
export function carvedCount(n: number, fraction: number): number {
  checkFraction(fraction);
  return Math.max(0, Math.min(n - 1, Math.floor(n * fraction)));
}

function checkFraction(fraction: number): void {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new RangeError(`fraction must be in [0, 1), got ${fraction}`);
  }
}

/** Splits per class in label-map order; within a class, order follows a seeded shuffle. */
export function splitPerClass<T extends { label: string }>(
  items: readonly T[],
  labels: LabelMap,
  { fraction, rng, count = heldOutCount }: SplitOptions,
): Split<T> {
  const groups = groupByClass(items, labels);
  const kept: T[] = [];
  const heldOut: T[] = [];
  const perClass: ClassSplit[] = [];
  groups.forEach((group, index) => {
    const shuffled = rng.shuffle([...group]);
    const n = count(shuffled.length, fraction);
    heldOut.push(...shuffled.slice(0, n));
    kept.push(...shuffled.slice(n));
    perClass.push({ label: labels.toLabel(index), index, kept: shuffled.length - n, heldOut: n });
  });
  return { kept, heldOut, perClass };
}

/** Fold `index` of `count` (k-fold cross-validation): it validates, the other folds train. */
export interface Folds {
  count: number;
  index: number;
}

/**
 * Stratified k-fold parts: each class shuffled on its own and dealt round the parts, starting
 * where the previous class stopped, so that parts differ by at most one photo of a class and one
 * photo overall. A class of one photo is in no part: it trains in every fold (as `heldOutCount`
 * keeps it), and a fold never validates a breed it has no photo of.
 */
export function foldParts<T extends { label: string }>(
  items: readonly T[],
  labels: LabelMap,
  { count, rng }: { count: number; rng: Rng },
): { parts: T[][]; always: T[] } {
  if (!(Number.isInteger(count) && count >= 2)) {
    throw new RangeError(`folds must be a whole number of 2 or more, got ${count}`);
  }
  const parts: T[][] = Array.from({ length: count }, () => []);
  const always: T[] = [];
  let next = 0;
  for (const group of groupByClass(items, labels)) {
    const shuffled = rng.shuffle([...group]);
    if (shuffled.length < 2) {
      always.push(...shuffled);
      continue;
    }
    for (const item of shuffled) {
      parts[next].push(item);
      next = (next + 1) % count;
    }
  }
  return { parts, always };
}

/** Items grouped by contiguous class index (the array index); input order kept inside a group. */
export function groupByClass<T extends { label: string }>(
  items: readonly T[],
  labels: LabelMap,
): T[][] {
  const groups: T[][] = Array.from({ length: labels.size }, () => []);
  for (const item of items) groups[labels.toIndex(item.label)].push(item);
  return groups;
}

/** Class frequencies (summing to 1), the weights the seed's batch sampler draws classes with. */
export function classFrequencies(items: readonly { label: string }[], labels: LabelMap): number[] {
  const counts = new Array<number>(labels.size).fill(0);
  for (const item of items) counts[labels.toIndex(item.label)]++;
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total === 0 ? 0 : c / total));
}
