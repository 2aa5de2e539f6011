/**
 * The weights' moving average (`--ema`): its update and swap; a checkpoint that keeps it loads for
 * use as the average and for a resume as the raw weights with the average beside them; and a run
 * stopped mid-stage, on tfjs' stage 1 and on the native stage 2, resumes to the uninterrupted
 * run's weights and averages, bit for bit.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { buildBackbone } from "@/model/index.ts";
import { buildSeedModel, trainableVariables, unfreezeFrom } from "@/model/seed_model.ts";
import { loadCheckpoint, type RoundMetrics, saveCheckpoint } from "@/run/checkpoint.ts";
import { WeightAverage } from "@/train/ema.ts";
import type { Callback } from "@/train/round.ts";
import { openRun, train, type TrainOptions } from "@/train/run.ts";
import { PRESETS, smallPreset } from "@/run/presets.ts";
import { assertSameValues, makeColourDataset, SHARED_MOBILENET, tempDir } from "../fixtures.ts";

await initBackend({ quiet: true });

Deno.test("ema: each update moves the average toward the weights by 1 - decay; swap exchanges them", () => {
  const v = tf.variable(tf.tensor1d([1, 2]));
  const average = new WeightAverage([v], 0.75);
  tf.tidy(() => v.assign(tf.tensor1d([5, 6])));
  const count = tf.memory().numTensors;
  average.update();
  assert.deepEqual([...average.shadow[0].dataSync()], [2, 3]);
  average.swap();
  assert.deepEqual([...v.dataSync()], [2, 3]);
  assert.deepEqual([...average.shadow[0].dataSync()], [5, 6]);
  average.swap();
  assert.equal(tf.memory().numTensors, count, "updates and swaps leave no tensors behind");
  average.dispose();
  v.dispose();
});

Deno.test("ema: a checkpoint keeps the average; loaded for use it is the average, for a resume the raw weights", async () => {
  const dir = await tempDir();
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 32 });
  const model = buildSeedModel(backbone, { classes: 3 });
  unfreezeFrom(model);
  const variables = trainableVariables(model);
  const average = new WeightAverage(variables, 0.9);
  const raw = variables.map((v) => v.dataSync().slice());
  tf.tidy(() => average.shadow.forEach((s) => s.assign(tf.add(s, 1))));
  const metrics: RoundMetrics = {
    main: 0.5,
    aux: 0.5,
    blend: 0.6,
    alpha: 0.5,
    loss: { total: 1, main: 1, center: 1, aux: 1 },
    valLoss: 1,
  };
  const meta = { round: 1, stage: "s", step: 1, metrics, seconds: 1, savedAt: "" };
  const kept = await saveCheckpoint(dir, model, undefined, { ...meta, averaged: true }, average);
  // Loaded for use: the averages.
  await loadCheckpoint(kept, model);
  variables.forEach((v, i) =>
    assert.deepEqual(v.dataSync(), raw[i].map((x) => Math.fround(x + 1)))
  );
  // Loaded to resume: the raw weights, and the average handed back.
  variables.forEach((v) => v.assign(tf.zerosLike(v)));
  const other = new WeightAverage(variables, 0.9);
  await loadCheckpoint(kept, model, tf.train.adam(0.1), other);
  variables.forEach((v, i) => assert.deepEqual(v.dataSync(), raw[i]));
  other.shadow.forEach((s, i) => assert.deepEqual(s.dataSync(), average.shadow[i].dataSync()));
  // Not averaged (the raw weights scored better): loaded for use, the raw weights.
  const plain = await saveCheckpoint(
    join(dir, "plain"),
    model,
    undefined,
    { ...meta, round: 2 },
    average,
  );
  variables.forEach((v) => v.assign(tf.zerosLike(v)));
  await loadCheckpoint(plain, model);
  variables.forEach((v, i) => assert.deepEqual(v.dataSync(), raw[i]));
  average.dispose();
  other.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("ema: a run stopped mid-stage (tfjs' stage 1, the native stage 2) resumes bit for bit", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  await makeColourDataset(data);
  const small = smallPreset(PRESETS.cpu);
  const preset = {
    ...small,
    name: "ema",
    ema: 0.5,
    stages: [
      { ...small.stages[0], rounds: 2, stepsPerRound: 3 },
      { ...small.stages[1], rounds: 2, stepsPerRound: 3 },
    ],
  };
  const options = (out: string): TrainOptions => ({
    data,
    weights: SHARED_MOBILENET,
    out: join(dir, out),
    preset,
    cacheDir: join(dir, "cache"),
    progress: false,
    log: () => {},
  });
  // Every round, on either path, hands the checkpoint an average that is neither the weights nor
  // the stage's starting weights: it was updated step by step.
  const run = await openRun(options("whole"));
  const starts = new Map<tf.Variable, Float32Array>();
  const remember = () =>
    trainableVariables(run.model).forEach((v) => starts.set(v, v.dataSync() as Float32Array));
  const gap = (a: tf.Tensor, b: tf.Tensor | Float32Array) =>
    tf.tidy(() =>
      tf.max(tf.abs(tf.sub(a, b instanceof Float32Array ? tf.tensor(b, a.shape) : b))).dataSync()[0]
    );
  const apart: number[] = [];
  const watch: Callback = {
    onRoundBegin(info) {
      if (info.step === info.stageStart) remember();
    },
    onRoundEnd(info, _metrics, _optimizer, average) {
      const moved = average!.shadow.every((s, i) =>
        gap(s, average!.variables[i]) > 0 || gap(s, starts.get(average!.variables[i])!) > 0
      );
      const updated = average!.shadow.some((s, i) =>
        gap(s, starts.get(average!.variables[i])!) > 0
      );
      if (moved && updated) apart.push(info.round);
    },
  };
  await run.trainStage(2, { callbacks: [watch] });
  const whole = await run.result();
  await run.close();
  assert.equal(whole.history.length, 4);
  assert.deepEqual(apart, [1, 2, 3, 4]);
  assert.ok(whole.history.every((h) => h.metrics.ema && h.metrics.ema.average.blend >= 0));
  const last = async (out: string) => {
    const names = (await Array.fromAsync(Deno.readDir(join(dir, out, "checkpoints"))))
      .map((e) => e.name).filter((n) => n.startsWith("round")).sort();
    return await Deno.readFile(join(dir, out, "checkpoints", names.at(-1)!, "weights.bin"));
  };
  for (const round of [2, 4]) {
    const out = `stopped-${round}`;
    const crash = {
      onRoundBegin(info: { round: number }) {
        if (info.round === round) throw new Error("crash");
      },
    };
    await assert.rejects(train({ ...options(out), callbacks: [crash] }), /crash/);
    const resumed = await train(options(out));
    assert.equal(resumed.resumedFrom, round - 1);
    assert.deepEqual(
      resumed.history.map((h) => ({ ...h, seconds: 0 })),
      whole.history.map((h) => ({ ...h, seconds: 0 })),
    );
    // weights.bin holds the raw weights, the optimizer's state and the averages.
    assertSameValues(
      await last(out),
      await last("whole"),
      `weights.bin, stopped at round ${round}`,
    );
  }
  await Deno.remove(dir, { recursive: true });
});
