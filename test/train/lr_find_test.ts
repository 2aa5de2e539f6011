/**
 * The learning-rate finder: fastai's valley on a known curve; on a real (small) run, a sweep that
 * rises exponentially, stops when the loss blows up, and leaves the run's weights, files and
 * tensor count as they were.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { openRun } from "@/train/run.ts";
import { valley } from "@/train/lr_find.ts";
import { PRESETS, smallPreset } from "@/run/presets.ts";
import { lrFinderCurve } from "@/plot/lr_find.ts";
import { makeColourDataset, SHARED_MOBILENET, tempDir } from "../fixtures.ts";

await initBackend({ quiet: true });

Deno.test("lr finder: the valley is two thirds down the longest fall of the loss", () => {
  const rates = Array.from({ length: 10 }, (_, i) => 10 ** (i - 7));
  // Flat, then falling from index 2 to 8, then up.
  const losses = [5, 5, 4.9, 4, 3, 2, 1.5, 1.2, 1.1, 9];
  // The longest decreasing run starts at 0 (5 > 4.9 > ...) and ends at 8: 8 / 3 = 2.67 -> 2 + 1.
  assert.equal(valley(rates, losses), rates[3]);
  // A loss that falls all the way: fastai's arithmetic starts the run one before the first step,
  // so the suggestion is two thirds down from there.
  assert.equal(valley([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]), 3);
});

Deno.test("lr finder: a sweep on stage 1 and 2 of a run, its weights and files as before", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  await makeColourDataset(data);
  const run = await openRun({
    data,
    weights: SHARED_MOBILENET,
    out: join(dir, "run"),
    preset: smallPreset(PRESETS.cpu),
    cacheDir: join(dir, "cache"),
    trunkWorkers: 1,
    progress: false,
    log: () => {},
  });
  const weights = () =>
    [...run.model.backbone.model.layers, ...run.model.head.layers]
      .flatMap((layer) => layer.weights).map((v) => v.read().dataSync().slice())
      .concat([run.model.centers.dataSync().slice()]);
  const before = weights();
  await run.findLearningRate(1, { steps: 8 }); // builds what stage 1 keeps, once
  const tensors = tf.memory().numTensors;
  const one = await run.findLearningRate(1, { steps: 60 });
  assert.equal(tf.memory().numTensors, tensors, "a sweep leaves no tensors behind");
  assert.deepEqual(weights(), before, "the weights are put back");
  assert.ok(one.rates.length > 10 && one.rates.length <= 60);
  for (let i = 1; i < one.rates.length; i++) {
    assert.ok(Math.abs(one.rates[i] / one.rates[i - 1] - (1e8) ** (1 / 59)) < 1e-9);
  }
  assert.ok(one.suggestion >= 1e-7 && one.suggestion <= 10);
  assert.ok(one.losses.every(Number.isFinite) && one.smoothed.length === one.rates.length);
  const saved = await Array.fromAsync(Deno.readDir(join(dir, "run", "checkpoints")));
  assert.deepEqual(saved, [], "a sweep writes no checkpoint");
  // Stage 2 trains stage 1 first (its sweep starts where stage 1 ends), then sweeps SGD.
  const two = await run.findLearningRate(2, { steps: 30 });
  assert.equal(await run.completedRounds(), 1);
  assert.ok(two.rates.length > 10);
  const figure = lrFinderCurve(two, "stage 2");
  assert.equal((figure.layout as { xaxis: { type: string } }).xaxis.type, "log");
  await run.dispose();
  await Deno.remove(dir, { recursive: true });
});
