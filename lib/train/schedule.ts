/**
 * Learning-rate schedules over a stage's steps: constant (the seed's), cosine with a linear
 * warmup, and fastai's one-cycle (a quarter of the steps rising from lr/25 to lr, then a cosine
 * down to lr/25e4; its momentum cycle is left out: the cached stages' SGD keeps the seed's 0.9).
 * Pure functions of the step, so a resumed stage continues the same curve.
 */
import type { StageSpec } from "../run/presets.ts";

const cosineBetween = (from: number, to: number, t: number) =>
  to + (from - to) * (1 + Math.cos(Math.PI * Math.min(Math.max(t, 0), 1))) / 2;

/** The learning rate of step `k` (0-based) of a stage of `total` steps. */
export function learningRateAt(
  stage: Pick<StageSpec, "optimizer" | "schedule" | "warmup">,
  k: number,
  total: number,
): number {
  const lr = stage.optimizer.learningRate;
  const schedule = stage.schedule ?? "constant";
  if (schedule === "constant") return lr;
  if (schedule === "cosine") {
    const warm = Math.floor((stage.warmup ?? 0) * total);
    if (k < warm) return lr * (k + 1) / warm;
    return cosineBetween(lr, 0, (k - warm) / Math.max(total - warm, 1));
  }
  const rise = Math.max(Math.floor((stage.warmup ?? 0.25) * total), 1);
  if (k < rise) return cosineBetween(lr / 25, lr, k / rise);
  return cosineBetween(lr, lr / 25e4, (k - rise) / Math.max(total - rise - 1, 1));
}

/** Every step's learning rate of a stage (what notebook 03 draws). */
export function stageLearningRates(stage: StageSpec): number[] {
  const total = stage.rounds * stage.stepsPerRound;
  return Array.from({ length: total }, (_, k) => learningRateAt(stage, k, total));
}
