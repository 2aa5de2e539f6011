/**
 * The stage-by-stage API: a run trained one `trainStage` call at a time — out of order, across two
 * handles on the folder (a notebook re-running its "open" cell), with a stage asked for twice — ends
 * with exactly the metrics and weights of `train()` straight through.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { openRun, train, type TrainOptions } from "@/train/run.ts";
import { PRESETS, smallPreset } from "@/run/presets.ts";
import { assertSameValues, makeColourDataset, SHARED_MOBILENET, tempDir } from "../fixtures.ts";

await initBackend({ quiet: true });

const stripTimes = (history: { seconds: number }[]) =>
  history.map(({ seconds: _, ...rest }) => rest);
const metrics = async (out: string) =>
  stripTimes(JSON.parse(await Deno.readTextFile(join(out, "metrics.json"))));
async function lastWeights(out: string): Promise<Uint8Array> {
  const names = (await Array.fromAsync(Deno.readDir(join(out, "checkpoints"))))
    .map((e) => e.name).filter((n) => n.startsWith("round")).sort();
  return await Deno.readFile(join(out, "checkpoints", names.at(-1)!, "weights.bin"));
}

Deno.test("stages: one at a time, out of order and across handles, equals train()", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  await makeColourDataset(data);
  const options = (out: string, log: string[] = []): TrainOptions => ({
    data,
    weights: SHARED_MOBILENET,
    out: join(dir, out),
    preset: smallPreset(PRESETS.cpu),
    cacheDir: join(dir, "cache"),
    trunkWorkers: 1,
    progress: false,
    log: (line) => log.push(line),
  });
  const whole = await train(options("whole"));
  assert.equal(whole.history.length, 3, "three stages of one round");

  const log: string[] = [];
  const baseline = tf.memory().numTensors;
  const first = await openRun(options("staged", log));
  await first.lossTerms(1); // builds what stage 1 keeps (the folded trunk), once
  const before = tf.memory().numTensors;
  const terms = await first.lossTerms(1);
  assert.equal(tf.memory().numTensors, before, "lossTerms leaves no tensors");
  assert.ok([terms.main, terms.center, terms.aux].every(Number.isFinite));
  assert.ok(Math.abs(terms.total - (terms.main + 0.25 * terms.center + 0.25 * terms.aux)) < 1e-5);
  const stage2 = await first.trainStage(2);
  assert.ok(log.some((l) => /stage 1 \(frozen\) is not complete: training it first/.test(l)));
  assert.deepEqual(stage2.map((h) => h.round), [2]);
  // The same batch after two stages of training: the heads fit it better, the centers have
  // moved towards its features, and the terms still add up as the recipe weighs them.
  const trained = await first.lossTerms(1);
  assert.ok(trained.main < terms.main, `main ${terms.main} -> ${trained.main}`);
  assert.ok(trained.aux < terms.aux, `aux ${terms.aux} -> ${trained.aux}`);
  assert.ok(trained.center < terms.center, `center ${terms.center} -> ${trained.center}`);
  assert.ok(
    Math.abs(trained.total - (trained.main + 0.25 * trained.center + 0.25 * trained.aux)) < 1e-5,
  );

  // Opening the folder again in this process replaces the first handle instead of being refused
  // by its own lock; the first handle is closed.
  const second = await openRun(options("staged", log));
  await assert.rejects(first.trainStage(3), /closed: open it again/);
  assert.equal(second.resumedFrom, 2);
  // Opened on a checkpoint, a handle holds its weights at once (a notebook restarted on a trained
  // run): its validation pass gives what round 2 recorded, before any stage is asked for.
  const again = await second.validation(2);
  const recorded = second.history[1].metrics;
  for (const key of ["main", "aux", "blend", "alpha"] as const) {
    assert.ok(
      Math.abs(again[key] - recorded[key]) < 1e-6,
      `${key}: ${again[key]} vs ${recorded[key]}`,
    );
  }
  await second.trainStage(3);
  assert.deepEqual(await second.trainStage(1), [second.history[0]], "a complete stage: no rounds");
  assert.equal(second.history.length, 3);
  assert.throws(() => second.stage(4), /no stage 4 in this run; its stages: 1 \(frozen\)/);
  await second.dispose();
  assert.equal(tf.memory().numTensors, baseline, "both handles released every tensor");

  assert.deepEqual(await metrics(join(dir, "staged")), await metrics(join(dir, "whole")));
  assertSameValues(
    await lastWeights(join(dir, "staged")),
    await lastWeights(join(dir, "whole")),
    "weights",
  );
  await Deno.remove(dir, { recursive: true });
});
