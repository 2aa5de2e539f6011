import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { buildBackbone, buildSeedModel, splitBackbone, unfreezeFrom } from "@/model/index.ts";
import { activationSource, type BatchSource, makeOptimizer, trainStep } from "@/train/step.ts";
import { validate } from "@/train/validate.ts";
import { mapActivations } from "@/train/features.ts";
import { tfjsRunner } from "@/model/runner.ts";
import { foldModel } from "@/model/fold.ts";
import { type InferenceModel, type Part } from "@/model/inference.ts";
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from "@/run/checkpoint.ts";
import { tempDir } from "../fixtures.ts";

await initBackend({ quiet: true });

function setup() {
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 64 });
  const model = buildSeedModel(backbone, { classes: 4 });
  const { trunk, top } = splitBackbone(backbone);
  const shape = (trunk.outputs[0].shape as number[]).slice(1);
  const n = 64;
  const size = shape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: n * size }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
  return { backbone, model, top, set: { x, labels, n, shape } };
}

Deno.test("memory: 100 training steps and validation passes leave tf.memory().numTensors unchanged", async () => {
  const { model, top, set } = setup();
  unfreezeFrom(model);
  const source = activationSource(set, 16, top);
  const optimizer = makeOptimizer({ kind: "sgd", learningRate: 1e-3, momentum: 0.9 });
  await trainStep(model, source, 0, optimizer); // the optimizer creates its slots on the first step
  const before = tf.memory().numTensors;
  for (let k = 1; k <= 100; k++) {
    await trainStep(model, source, k, optimizer);
    assert.equal(tf.memory().numTensors, before, `after step ${k}`);
    if (k % 25 === 0) {
      await validate(model, set, top);
      assert.equal(tf.memory().numTensors, before, `after validation at step ${k}`);
    }
  }
  // Pooled-feature training (stage 1) too.
  const pooled = await mapActivations(tfjsRunner(top, set.shape), set);
  const adam = makeOptimizer({ kind: "adam", learningRate: 1e-3 });
  const head = activationSource(pooled, 16, null);
  await trainStep(model, head, 0, adam);
  const before2 = tf.memory().numTensors;
  for (let k = 1; k <= 100; k++) await trainStep(model, head, k, adam);
  await validate(model, pooled, null);
  assert.equal(tf.memory().numTensors, before2);
});

Deno.test("training steps lower the loss on a fixed batch", async () => {
  const { model, backbone } = setup();
  // Distinct pooled features (a random backbone's are nearly all alike): the head must fit them.
  const n = 64;
  const dim = backbone.features;
  const pooled = {
    x: Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i * 78.233) * 43758.5453 % 1),
    labels: Int32Array.from({ length: n }, (_, i) => i % 4),
    n,
    shape: [dim],
  };
  const source = activationSource(pooled, 64, null);
  const optimizer = makeOptimizer({ kind: "adam", learningRate: 1e-2 });
  const first = await trainStep(model, source, 0, optimizer);
  let last = first;
  for (let k = 1; k < 60; k++) last = await trainStep(model, source, 0, optimizer);
  assert.ok(last.total < first.total * 0.5, `${first.total} -> ${last.total}`);
  assert.ok((await validate(model, pooled, null)).main > 0.9, "memorises 64 samples");
});

Deno.test("checkpoint: weights, centers and optimizer state round-trip; partial folders are ignored", async () => {
  const dir = await tempDir();
  const { model, top, set } = setup();
  unfreezeFrom(model);
  const source = activationSource(set, 16, top);
  const optimizer = makeOptimizer({ kind: "adam", learningRate: 1e-3 });
  for (let k = 0; k < 3; k++) await trainStep(model, source, k, optimizer);
  const metrics = {
    main: 0.5,
    aux: 0.25,
    blend: 0.5,
    alpha: 0.3,
    valLoss: 1,
    loss: { total: 1, main: 1, center: 0, aux: 1 },
  };
  const path = await saveCheckpoint(dir, model, optimizer, {
    round: 3,
    stage: "fine-tune",
    step: 3,
    metrics,
    seconds: 1,
    savedAt: "",
  });
  assert.match(path, /round03-main0\.5000-aux0\.2500-blend0\.5000-alpha0\.30$/);
  const expected = await validate(model, set, top);
  const nextA = await trainStep(model, source, 3, optimizer);

  const other = setup();
  unfreezeFrom(other.model);
  const otherTop = splitBackbone(other.backbone).top;
  const optimizer2 = makeOptimizer({ kind: "adam", learningRate: 1e-3 });
  const meta = await loadCheckpoint(path, other.model, optimizer2);
  assert.equal(meta.round, 3);
  const restored = await validate(other.model, set, otherTop);
  assert.deepEqual(restored.probabilities.main, expected.probabilities.main);
  // Same optimizer state: the next step gives the same loss and the same weights.
  const nextB = await trainStep(other.model, activationSource(set, 16, otherTop), 3, optimizer2);
  assert.ok(Math.abs(nextA.total - nextB.total) < 1e-6, `${nextA.total} vs ${nextB.total}`);
  assert.deepEqual(other.model.centers.dataSync(), model.centers.dataSync());

  await Deno.mkdir(join(dir, "round04-main0-aux0-blend0-alpha0.00.tmp-123"));
  await Deno.mkdir(join(dir, "round05-incomplete"));
  assert.deepEqual((await listCheckpoints(dir)).map((c) => c.meta.round), [3]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("end-to-end step with a folded frozen trunk: same loss as the layers, trunk untouched, no leak", async () => {
  const { backbone, model, top } = setup();
  unfreezeFrom(model);
  const { trunk } = splitBackbone(backbone);
  const folded = foldModel(trunk);
  const images = tf.randomUniform([8, 64, 64, 3], -1, 1, "float32", 5);
  const labels = Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]);
  const source = (part: Part, frozen?: InferenceModel): BatchSource => ({
    part,
    frozen,
    batch: () => ({ x: images.clone(), labels }),
  });
  // Learning rate 0: a step only measures the loss, so both paths see the same weights.
  const still = makeOptimizer({ kind: "sgd", learningRate: 0, momentum: 0 });
  const layers = await trainStep(model, source(backbone.model), 0, still);
  const compiled = await trainStep(model, source(top, folded), 0, still);
  assert.ok(
    Math.abs(layers.total - compiled.total) < 1e-4 * layers.total,
    `${layers.total} vs ${compiled.total}`,
  );

  const trunkBefore = trunk.getWeights().map((w) => w.dataSync().slice());
  const topBefore = top.getWeights().map((w) => w.dataSync().slice());
  const sgd = makeOptimizer({ kind: "sgd", learningRate: 1e-2, momentum: 0.9 });
  await trainStep(model, source(top, folded), 0, sgd);
  const count = tf.memory().numTensors;
  for (let k = 1; k <= 10; k++) await trainStep(model, source(top, folded), k, sgd);
  assert.equal(tf.memory().numTensors, count);
  assert.deepEqual(trunk.getWeights().map((w) => w.dataSync()), trunkBefore);
  assert.ok(
    top.getWeights().some((w, i) => w.dataSync().some((v, j) => v !== topBefore[i][j])),
    "the unfrozen top trains",
  );
  folded.dispose();
  images.dispose();
});
