import * as assert from "node:assert/strict";
import { learningRateAt, stageLearningRates } from "@/train/schedule.ts";
import { stoppedEarly } from "@/train/stage.ts";
import { PRESETS } from "@/run/presets.ts";

const stage = { ...PRESETS.cpu.stages[0], rounds: 2, stepsPerRound: 50 };
const lr = stage.optimizer.learningRate;
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 + 1e-9 * Math.abs(b);

Deno.test("schedule: constant is the seed's rate at every step", () => {
  assert.ok(stageLearningRates(stage).every((r) => r === lr));
});

Deno.test("schedule: cosine warms up linearly, peaks, and falls to near 0 along a cosine", () => {
  const rates = stageLearningRates({ ...stage, schedule: "cosine", warmup: 0.1 });
  assert.equal(rates.length, 100);
  assert.ok(close(rates[0], lr / 10) && close(rates[4], lr / 2) && close(rates[9], lr));
  assert.ok(close(rates[10], lr), "the first step after warmup is the peak");
  assert.ok(close(rates[10 + 45], lr / 2), "half-way through the decay: half the rate");
  assert.ok(rates[99] < lr / 1000);
  for (let k = 11; k < 100; k++) assert.ok(rates[k] < rates[k - 1]);
  // No warmup: from the peak at once.
  assert.equal(learningRateAt({ ...stage, schedule: "cosine" }, 0, 100), lr);
});

Deno.test("schedule: one-cycle rises from lr/25 over a quarter of the steps, then falls to lr/25e4", () => {
  const rates = stageLearningRates({ ...stage, schedule: "one-cycle" });
  assert.ok(close(rates[0], lr / 25));
  assert.ok(close(rates[25], lr));
  assert.ok(close(rates[99], lr / 25e4));
  for (let k = 1; k <= 25; k++) assert.ok(rates[k] > rates[k - 1]);
  for (let k = 26; k < 100; k++) assert.ok(rates[k] < rates[k - 1]);
});

Deno.test("early stopping: a stage stops once its best blend is `patience` rounds old", () => {
  assert.equal(stoppedEarly([0.5, 0.6, 0.6], undefined), false);
  assert.equal(stoppedEarly([0.5, 0.6, 0.6], 1), true, "a tie is not better");
  assert.equal(stoppedEarly([0.5, 0.6, 0.6], 2), false);
  assert.equal(stoppedEarly([0.5, 0.6, 0.55, 0.58], 2), true);
  assert.equal(stoppedEarly([0.5, 0.6, 0.55, 0.61], 2), false);
  assert.equal(stoppedEarly([], 1), false);
});
