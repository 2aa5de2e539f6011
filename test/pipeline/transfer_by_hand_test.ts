/**
 * The transfer opened before it trains (notebook 05's step by hand): its run starts from the
 * job's best checkpoint, its batches draw from the pool of labelled and pseudo-labelled photos,
 * one step by hand equals the API's, and the transfer then trains as it would have.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { openReproduction } from "@/pipeline/reproduce.ts";
import { PRESETS, smallPreset } from "@/run/presets.ts";
import { loadRun } from "@/run/load.ts";
import { disposeSeedModel, type SeedModel } from "@/model/seed_model.ts";
import { assertSameValues, makeColourDataset, SHARED_MOBILENET, tempDir } from "../fixtures.ts";

await initBackend({ quiet: true });

const headWeights = (model: SeedModel) =>
  model.head.getWeights().map((w) => Float32Array.from(w.dataSync()));
// assertSameValues, not deepEqual: assert's diff of two long Float32Arrays takes minutes to print.
function assertSameWeights(actual: Float32Array[], expected: Float32Array[], what: string): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((w, i) => assertSameValues(w, expected[i], `${what}, head weight ${i}`));
}

Deno.test("transfer by hand: opened from the best checkpoint, its batch from the pool, its step the API's", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  await makeColourDataset(data);
  const r = await openReproduction({
    data,
    weights: SHARED_MOBILENET,
    out: join(dir, "job"),
    preset: smallPreset(PRESETS.cpu),
    cacheDir: join(dir, "cache"),
    trunkWorkers: 1,
    progress: false,
    log: () => {},
  });
  try {
    const before = await r.predictTest("before");
    const pseudo = r.pseudoLabels(before);
    assert.ok(pseudo.length > 0, "pseudo-labels to transfer with");

    const run = await r.openTransfer(pseudo);
    // It starts from the best checkpoint of stages 1-3, not from ImageNet and fresh heads.
    const best = await loadRun(join(dir, "job", "train"), "best");
    assertSameWeights(headWeights(run.model), headWeights(best.model), "the best checkpoint's");
    disposeSeedModel(best.model);

    // Its first batch: photos of the pool (training, validation and pseudo-labelled test photos),
    // labelled as the batch is.
    const pool = new Map(
      [...run.data.train, ...run.data.val, ...pseudo].map((p) => [p.id, p.label]),
    );
    const samples = run.samples(1);
    const photos = run.photos(1);
    assert.equal(samples.length, photos.n);
    samples.forEach((s, i) => {
      assert.equal(s.label, photos.labels[i]);
      for (const id of s.ids) assert.equal(run.data.labels.toIndex(pool.get(id)!), s.label, id);
    });
    const pseudoIds = new Set(pseudo.map((p) => p.id));
    assert.ok(
      samples.some((s) => s.ids.some((id) => pseudoIds.has(id))),
      "the transfer's batch holds pseudo-labelled photos",
    );

    // One step by hand, SGD through the unfrozen blocks, is the API's; the weights are put back.
    const weights = headWeights(run.model);
    const tensors = tf.memory().numTensors;
    const step = await run.stepByHand(1);
    assert.ok(step.api.largestDifference < 1e-6, `by hand vs API: ${step.api.largestDifference}`);
    assert.ok(step.parts.some((p) => p.part.startsWith("backbone ")), "the blocks train");
    assertSameWeights(headWeights(run.model), weights, "put back");
    assert.equal(tf.memory().numTensors, tensors);
    await run.close();

    // The transfer then runs on the same folder, from the same start.
    const tuned = await r.transfer(pseudo);
    assert.equal(tuned.history.length, smallPreset(PRESETS.cpu).transferStages.length);
  } finally {
    await r.close();
  }
  await Deno.remove(dir, { recursive: true });
});
