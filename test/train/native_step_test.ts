/**
 * The native stage 2-3 step (ONNX Runtime, a graph with hand-derived gradients) against tfjs'
 * autodiff: the same loss terms and the same updated weights after a step and after a second
 * one (momentum carried), for MobileNetV2's real top; its state handed to tfjs and back without
 * a bit changed; and a run interrupted mid-stage that resumes to exactly the weights of one that
 * was not.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { buildBackbone, loadPretrained, splitBackbone } from "@/model/index.ts";
import { buildSeedModel, trainableVariables, unfreezeFrom } from "@/model/seed_model.ts";
import { foldModel } from "@/model/fold.ts";
import { SEED_LOSS_WEIGHTS } from "@/model/loss.ts";
import {
  activationSource,
  makeOptimizer,
  setLearningRate,
  type StepLoss,
  trainStep,
} from "@/train/step.ts";
import { mixPlan, type StepRecipe } from "@/train/mix.ts";
import { WeightAverage } from "@/train/ema.ts";
import { openNativeStep } from "@/train/native_step.ts";
import { train, type TrainOptions } from "@/train/run.ts";
import { PRESETS, smallPreset } from "@/run/presets.ts";
import { Rng } from "@/rng.ts";
import { assertSameValues, makeColourDataset, SHARED_MOBILENET, tempDir } from "../fixtures.ts";

await initBackend({ quiet: true });

const BATCH = 16;
const CLASSES = 5;

/** A model with the real ImageNet trunk, its top unfrozen, non-zero centers; 3 cached batches. */
async function setup() {
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 96 });
  await loadPretrained(backbone, SHARED_MOBILENET);
  const model = buildSeedModel(backbone, { classes: CLASSES, seed: 4 });
  unfreezeFrom(model);
  model.centers.assign(tf.randomNormal(model.centers.shape, 0, 0.2, "float32", 5));
  const { trunk, top } = splitBackbone(backbone);
  const rng = new Rng("native-step");
  const n = 3 * BATCH;
  const images = tf.tensor4d(
    Float32Array.from({ length: n * 96 * 96 * 3 }, () => rng.next() * 2 - 1),
    [n, 96, 96, 3],
  );
  const folded = foldModel(trunk);
  const x = await folded.predict(images).data() as Float32Array;
  folded.dispose();
  const set = {
    x,
    labels: Int32Array.from({ length: n }, (_, i) => (i * 3) % CLASSES),
    n,
    shape: (trunk.outputs[0].shape as number[]).slice(1),
  };
  return { model, top, set };
}

const values = (model: ReturnType<typeof trainableVariables>) =>
  Promise.all(model.map(async (v) => (await v.data() as Float32Array).slice()));

/** Two steps both ways from the same start, at learning rates `rates`, with `recipe`. */
async function bothWays(recipe?: StepRecipe, rates = [0.05, 0.05], decay?: number) {
  const { model, top, set } = await setup();
  const variables = trainableVariables(model);
  const start = await values(variables);
  const spec = { kind: "sgd" as const, learningRate: 0.05, momentum: 0.9 };

  // tfjs: the trainable fold of the top, as cached training runs it.
  const optimizer = makeOptimizer(spec);
  const source = activationSource(set, BATCH, foldModel(top, { trainable: true }), 3);
  const reference: StepLoss[] = [];
  // With a decay: the weights' moving average, updated after each step (lib/train/ema.ts).
  const tfjsAverage = decay ? new WeightAverage(variables, decay) : undefined;
  for (const [k, rate] of rates.entries()) {
    setLearningRate(optimizer, rate);
    reference.push(await trainStep(model, source, k, optimizer, SEED_LOSS_WEIGHTS, recipe));
    tfjsAverage?.update();
  }
  const tfjsWeights = await values(variables);

  // Native, from the same start.
  variables.forEach((v, i) => v.assign(tf.tensor(start[i], v.shape)));
  const fresh = makeOptimizer(spec);
  const native = await openNativeStep(model, top, set, {
    batchSize: BATCH,
    cycle: 3,
    learningRate: spec.learningRate,
    momentum: spec.momentum,
    lossWeights: SEED_LOSS_WEIGHTS,
    threads: 2,
    recipe,
  });
  const nativeAverage = decay ? new WeightAverage(variables, decay) : undefined;
  await native.load(fresh, nativeAverage);
  const ours: StepLoss[] = [];
  for (const [k, rate] of rates.entries()) ours.push(await native.step(k, rate));
  await native.store(fresh, nativeAverage);
  const nativeWeights = await values(variables);
  if (tfjsAverage && nativeAverage) {
    const [a, b] = [
      await values(tfjsAverage.shadow as tf.Variable[]),
      await values(nativeAverage.shadow),
    ];
    for (const [i, v] of variables.entries()) {
      let [scale, off] = [1e-12, 0];
      for (let j = 0; j < start[i].length; j++) {
        scale = Math.max(scale, Math.abs(a[i][j] - start[i][j]));
        off = Math.max(off, Math.abs(b[i][j] - a[i][j]));
      }
      assert.ok(off <= 1e-4 * scale, `${v.name}: averages off by ${off} of a move of ${scale}`);
    }
    tfjsAverage.dispose();
    nativeAverage.dispose();
  }

  for (const [s, loss] of ours.entries()) {
    for (const term of ["main", "center", "aux", "total"] as const) {
      const want = reference[s][term];
      assert.ok(
        Math.abs(loss[term] - want) <= 1e-5 * Math.max(1, want),
        `step ${s} ${term}: ${loss[term]} vs ${want}`,
      );
    }
  }
  assert.equal(variables.length, 30, "the top's 21 and the heads' 8 variables, and the centers");
  for (const [i, v] of variables.entries()) {
    let moved = 0;
    let off = 0;
    for (let j = 0; j < start[i].length; j++) {
      moved = Math.max(moved, Math.abs(tfjsWeights[i][j] - start[i][j]));
      off = Math.max(off, Math.abs(nativeWeights[i][j] - tfjsWeights[i][j]));
    }
    assert.ok(moved > 0, `${v.name} trains`);
    assert.ok(off <= 1e-4 * moved, `${v.name}: off by ${off} of a move of ${moved}`);
  }
  return { reference, variables, fresh, native };
}

Deno.test("native step: loss terms and updated weights are tfjs' autodiff step's, two steps running", async () => {
  const { variables, fresh, native } = await bothWays();
  // The optimizer now holds the native momentum and step count, as tfjs' own steps leave them.
  assert.equal(fresh.iterations, 2);
  const momentum = await fresh.getWeights();
  assert.equal(momentum.length, 1 + variables.length);
  tf.dispose(momentum.filter((w) => w.name === "iter").map((w) => w.tensor));
  // Steps and hand-overs leave tfjs' tensor count as it was (the momentum variables made once).
  const count = tf.memory().numTensors;
  for (let k = 2; k < 5; k++) await native.step(k);
  await native.store(fresh);
  await native.load(fresh);
  assert.equal(tf.memory().numTensors, count);
  await native.release();
});

Deno.test("native step: smoothing, mixup, CutMix, a schedule's rates and the average as tfjs' step", async () => {
  const plain = await bothWays();
  await plain.native.release();
  // Both smoothed; of two batches one mixes up and one cuts (the first seed that draws so); two
  // learning rates.
  const regularize = { labelSmoothing: 0.1, mixup: 0.4, cutmix: 1 };
  const cuts = (seed: number) =>
    [0, 1].map((k) => mixPlan(regularize, seed, k, BATCH, [3, 3])!.box !== undefined);
  const seed = [...Array(50).keys()].find((s) => cuts(s)[0] !== cuts(s)[1])!;
  const recipe = { regularize, seed };
  const mixed = await bothWays(recipe, [0.05, 0.01], 0.5);
  await mixed.native.release();
  for (const k of [0, 1]) assert.notEqual(mixed.reference[k].main, plain.reference[k].main);
});

Deno.test("native step: its state handed to tfjs and back continues the very same steps", async () => {
  const { model, top, set } = await setup();
  const variables = trainableVariables(model);
  const start = await values(variables);
  const options = {
    batchSize: BATCH,
    cycle: 3,
    learningRate: 0.05,
    momentum: 0.9,
    lossWeights: SEED_LOSS_WEIGHTS,
    threads: 2,
  };
  const run = async (handOver: boolean) => {
    variables.forEach((v, i) => v.assign(tf.tensor(start[i], v.shape)));
    const optimizer = makeOptimizer({ kind: "sgd", learningRate: 0.05, momentum: 0.9 });
    let native = await openNativeStep(model, top, set, options);
    await native.load(optimizer);
    await native.step(0);
    if (handOver) {
      await native.store(optimizer);
      await native.release();
      native = await openNativeStep(model, top, set, options);
      await native.load(optimizer);
    }
    await native.step(1);
    await native.store(optimizer);
    await native.release();
    return await values(variables);
  };
  const [handed, kept] = [await run(true), await run(false)];
  for (const [i, v] of variables.entries()) assertSameValues(handed[i], kept[i], v.name);
});

Deno.test("native step: a run stopped between two rounds of an SGD stage resumes to the same weights", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  await makeColourDataset(data);
  const preset = smallPreset(PRESETS.cpu);
  const sgd = { ...preset.stages[1], rounds: 2, stepsPerRound: 3 };
  const options = (out: string): TrainOptions => ({
    data,
    weights: SHARED_MOBILENET,
    out: join(dir, out),
    preset,
    stages: [preset.stages[0], sgd],
    cacheDir: join(dir, "cache"),
    progress: false,
    log: () => {},
  });
  const whole = await train(options("whole"));
  assert.equal(whole.history.length, 3);
  // A crash as round 3 (the SGD stage's second) begins: round 2's checkpoint is on disk.
  const crash = {
    onRoundBegin(info: { round: number }) {
      if (info.round === 3) throw new Error("crash");
    },
  };
  await assert.rejects(train({ ...options("stopped"), callbacks: [crash] }), /crash/);
  const resumed = await train(options("stopped"));
  assert.equal(resumed.resumedFrom, 2);
  const last = async (out: string) => {
    const names = (await Array.fromAsync(Deno.readDir(join(dir, out, "checkpoints"))))
      .map((e) => e.name).filter((n) => n.startsWith("round")).sort();
    return await Deno.readFile(join(dir, out, "checkpoints", names.at(-1)!, "weights.bin"));
  };
  assertSameValues(await last("stopped"), await last("whole"), "weights.bin");
  await Deno.remove(dir, { recursive: true });
});
