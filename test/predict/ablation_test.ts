/** Which ablation differences stand out of the seeds' noise (lib/predict/ablation.ts): taken seed
 * by seed, as the variants ran with the full recipe's seeds. */
import assert from "node:assert/strict";
import { type AblationBench, ablationVerdicts } from "@/predict/ablation.ts";

const summary = (variant: string, xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
  return { variant, mean, sd, min: Math.min(...xs), max: Math.max(...xs), seeds: xs.length };
};

Deno.test("ablationVerdicts: a small difference every seed agrees on counts; a noisy one does not", () => {
  const full = [0.85, 0.83, 0.87];
  const steady = full.map((x) => x + 0.004); // +0.4 points on every seed
  const noisy = [0.86, 0.81, 0.88]; // +1, -2, +1
  const bench: AblationBench = {
    seeds: [0, 1, 2],
    summary: [
      summary("full recipe", full.map((x) => 100 * x)),
      summary("steady", steady.map((x) => 100 * x)),
      summary("noisy", noisy.map((x) => 100 * x)),
    ],
    rows: [["full recipe", full], ["steady", steady], ["noisy", noisy]].flatMap(([v, xs]) =>
      (xs as number[]).map((accuracy, seed) => ({ variant: v as string, seed, accuracy }))
    ),
  };
  const [f, steadyVerdict, noisyVerdict] = ablationVerdicts(bench);
  assert.equal(f.beyondNoise, false);
  assert.ok(Math.abs(steadyVerdict.difference - 0.4) < 1e-9);
  assert.equal(steadyVerdict.beyondNoise, true, "the same +0.4 on every seed");
  assert.ok(Math.abs(noisyVerdict.difference - 0) < 1e-9);
  assert.equal(noisyVerdict.beyondNoise, false);
  // Unpaired, +0.4 against seeds 2 points apart would be noise: pairing is what shows it.
  assert.ok(steadyVerdict.noise < 0.1);
});
