/**
 * fastai's learning-rate finder: a short run whose rate grows exponentially step by step, from far
 * too small to far too large, recording the loss; the curve falls, flattens and blows up, and a
 * good rate sits on the way down. The suggestion is fastai's "valley": the longest stretch over
 * which the smoothed loss keeps falling, two thirds of the way down it. On the CPU presets the
 * sweep runs on the cached trunk activations (stage 1 on pooled features), so it takes seconds;
 * the weights are put back afterwards.
 */
import { type StepEngine, takeStep } from "./round.ts";

export interface LrFindOptions {
  /** The first and the last rate of the sweep (default 1e-7 and 10). */
  start?: number;
  end?: number;
  /** Steps of the sweep (default 100). */
  steps?: number;
  /** Stop once the smoothed loss passes this many times its minimum (default 4). */
  divergence?: number;
}

export interface LrFindResult {
  /** The rate of each step taken, and its loss: raw and smoothed (fastai's debiased EMA, 0.98). */
  rates: number[];
  losses: number[];
  smoothed: number[];
  /** The valley's rate: the suggestion. */
  suggestion: number;
  /** The rate at the smoothed loss's minimum, over 10 (the older rule of thumb). */
  minimumOver10: number;
}

/** fastai's valley: the longest decreasing run of `losses`, two thirds of the way down it. */
export function valley(rates: readonly number[], losses: readonly number[]): number {
  const n = losses.length;
  const longest = new Array(n).fill(1);
  let [start, end] = [0, 0];
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && longest[i] < longest[j] + 1) longest[i] = longest[j] + 1;
    }
    if (longest[end] < longest[i]) {
      end = i;
      start = end - longest[end];
    }
  }
  const third = (end - start) / 3;
  return rates[Math.min(n - 1, Math.max(0, start + Math.floor(third) + Math.floor(third / 2)))];
}

/** What the sweep steps on (the stage's engine), and where the stage's batches start. */
export interface SweepStep extends StepEngine {
  /** The stage's first global step: the sweep reads the batches the stage reads. */
  firstStep: number;
}

/** The sweep itself, from the model's weights as they are (the caller restores them). */
export async function sweepLearningRates(
  step: SweepStep,
  options: LrFindOptions = {},
): Promise<LrFindResult> {
  const { start = 1e-7, end = 10, steps = 100, divergence = 4 } = options;
  const rates: number[] = [];
  const losses: number[] = [];
  const smoothed: number[] = [];
  let average = 0;
  let best = Infinity;
  await step.native?.load(step.optimizer);
  for (let i = 0; i < steps; i++) {
    const rate = start * Math.pow(end / start, i / Math.max(steps - 1, 1));
    const loss = await takeStep(step, step.firstStep + i, rate);
    if (!Number.isFinite(loss.total)) break;
    average = 0.98 * average + 0.02 * loss.total;
    const value = average / (1 - Math.pow(0.98, i + 1));
    rates.push(rate);
    losses.push(loss.total);
    smoothed.push(value);
    best = Math.min(best, value);
    if (i > 10 && value > divergence * best) break;
  }
  if (rates.length < 3) throw new Error("the loss diverged at once: start the sweep lower");
  const lowest = smoothed.indexOf(Math.min(...smoothed));
  return {
    rates,
    losses,
    smoothed,
    suggestion: valley(rates, smoothed),
    minimumOver10: rates[lowest] / 10,
  };
}
