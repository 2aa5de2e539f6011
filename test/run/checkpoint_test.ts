/**
 * Checkpoints as the seed names and keeps them: the name carries the round and the metrics in the
 * seed's format; after every round only the latest and the best (by blended validation accuracy,
 * the earliest on ties) keep their folders; loading a run takes the best, not the latest.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { buildBackbone } from "@/model/index.ts";
import { buildSeedModel } from "@/model/seed_model.ts";
import { checkpointName, type RoundMetrics } from "@/run/checkpoint.ts";
import { checkpointCallback } from "@/train/callbacks.ts";
import { bestOf } from "@/run/checkpoint.ts";
import { PRESETS } from "@/run/presets.ts";
import { onnxRunner } from "@/model/runner.ts";
import { validate } from "@/train/validate.ts";
import { loadRun } from "@/run/load.ts";
import { tempDir } from "../fixtures.ts";

await initBackend({ quiet: true });

const metrics = (blend: number): RoundMetrics => ({
  main: blend - 0.01,
  aux: blend - 0.02,
  blend,
  alpha: 0.5,
  loss: { total: 1, main: 1, center: 1, aux: 1 },
  valLoss: 1,
});

Deno.test("checkpoint names: the seed's round and metrics format", () => {
  const m = { ...metrics(0.918), main: 0.912, aux: 0.905, alpha: 0.63 };
  assert.equal(checkpointName(7, m), "round07-main0.9120-aux0.9050-blend0.9180-alpha0.63");
  assert.equal(
    checkpointName(12, { ...m, alpha: 1 }),
    "round12-main0.9120-aux0.9050-blend0.9180-alpha1.00",
  );
  // Truncated as the seed's int(x * 10000), not rounded.
  assert.equal(
    checkpointName(3, { ...m, main: 0.91239, aux: 0.99995, blend: 0.5 }),
    "round03-main0.9123-aux0.9999-blend0.5000-alpha0.63",
  );
});

Deno.test("checkpoints: latest and best kept, earliest best on ties; loadRun takes the best", async () => {
  const dir = await tempDir();
  const checkpoints = join(dir, "checkpoints");
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 32 });
  const model = buildSeedModel(backbone, { classes: 3 });
  const callback = checkpointCallback(checkpoints, model, () => performance.now());
  const stage = { ...PRESETS.cpu.stages[0], stepsPerRound: 1 };
  const blends = [0.5, 0.9, 0.7, 0.9, 0.6];
  const optimizer = tf.train.adam(1e-3);
  const kept: string[][] = [];
  for (const [i, blend] of blends.entries()) {
    // Each round's centers are set to the round number: what a loaded checkpoint holds shows.
    model.centers.assign(tf.fill(model.centers.shape, i + 1));
    await callback.onRoundEnd!(
      { stage, stageIndex: 0, round: i + 1, totalRounds: blends.length, step: i, stageStart: 0 },
      metrics(blend),
      optimizer,
    );
    kept.push(
      (await Array.fromAsync(Deno.readDir(checkpoints))).map((e) => e.name.slice(0, 7)).sort(),
    );
  }
  assert.deepEqual(kept, [
    ["round01"],
    ["round02"], // better than round 1: round 1 is neither latest nor best
    ["round02", "round03"],
    ["round02", "round04"], // a tie with the best keeps the earlier one as best
    ["round02", "round05"],
  ]);
  const ties = [1, 2].map((round) => ({
    path: `r${round}`,
    meta: { round, metrics: metrics(0.9) },
  }));
  assert.equal(bestOf(ties as never[]), ties[0], "the earliest of equal bests");

  // loadRun needs the run's config and label map beside the checkpoints.
  await Deno.writeTextFile(
    join(dir, "run.json"),
    JSON.stringify({
      preset: { ...PRESETS.cpu, backbone: { name: "mobilenet_v2", alpha: 0.35, size: 32 } },
      seed: 0,
      glu: true,
    }),
  );
  await Deno.writeTextFile(
    join(dir, "labels.tsv"),
    "index\tlabel\tname\n0\ta\ta\n1\tb\tb\n2\tc\tc\n",
  );
  await Deno.writeTextFile(join(dir, "split.tsv"), "id\tpath\tlabel\tsubset\n");
  const best = await loadRun(dir, "best");
  assert.match(best.checkpoint.path, /round02-/);
  assert.equal(best.model.centers.dataSync()[0], 2);
  const latest = await loadRun(dir, "latest");
  assert.match(latest.checkpoint.path, /round05-/);
  assert.equal(latest.model.centers.dataSync()[0], 5);
  optimizer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("validate: main is alpha 1, aux alpha 0, the loss is the main head's mean cross-entropy", async () => {
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 32 });
  const model = buildSeedModel(backbone, { classes: 3, seed: 1 });
  const n = 12;
  const x = tf.tidy(() =>
    tf.randomNormal([n, 1280], 0, 3, "float32", 2).dataSync() as Float32Array
  );
  const labelsOf = Int32Array.from({ length: n }, (_, i) => i % 3);
  // The auxiliary head says class 2 for every photo (a third right); the main head is its own.
  const [kernel, bias] = model.head.getLayer("aux_logits").getWeights();
  assert.equal(bias.shape[0], 3);
  model.head.getLayer("aux_logits").setWeights([tf.zerosLike(kernel), tf.tensor1d([0, 0, 9])]);
  // What the heads say, straight from the model: [glu, main logits, aux logits].
  const [, mainLogits, auxLogits] = model.head.predict(tf.tensor2d(x, [n, 1280])) as tf.Tensor[];
  const argmaxes = (t: tf.Tensor) => Array.from(tf.argMax(t, 1).dataSync());
  const accuracy = (predicted: number[]) =>
    predicted.filter((c, i) => c === labelsOf[i]).length / n;
  const wantMain = accuracy(argmaxes(mainLogits));
  const wantAux = accuracy(argmaxes(auxLogits));
  assert.equal(wantAux, 1 / 3);
  assert.notEqual(wantMain, wantAux, "the two heads differ, so a swap shows");
  const softmax = tf.softmax(mainLogits).dataSync();
  let loss = 0;
  labelsOf.forEach((label, i) => (loss -= Math.log(softmax[i * 3 + label])));
  const set = { x, labels: labelsOf, n, shape: [1280] };
  // tfjs, then a native runner of the heads (what validation uses on ONNX Runtime).
  const runners = [
    undefined,
    () => onnxRunner([model.head], { outputs: [1, 2], softmax: true, threads: 1 }),
  ];
  for (const makeRunner of runners) {
    const result = await validate(model, set, null, makeRunner);
    assert.equal(result.main, wantMain);
    assert.equal(result.aux, wantAux);
    assert.ok(Math.abs(result.valLoss - loss / n) < 1e-5, `${result.valLoss} vs ${loss / n}`);
    assert.ok(result.blend >= Math.max(result.main, result.aux), "the search includes both ends");
    assert.ok(result.alpha >= 0 && result.alpha <= 1);
  }
});
