/**
 * A step by hand (lib/train/step_by_hand.ts) is the API's step: the weights worked out from the
 * optimizer's formula are those `trainStep` leaves, for Adam (stage 1) and SGD with momentum
 * (stages 2-3), and the model gets its weights back after.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "@/engine/tf.ts";
import {
  buildBackbone,
  buildSeedModel,
  freezeBackbone,
  splitBackbone,
  unfreezeFrom,
} from "@/model/index.ts";
import { activationSource, lossOnBatch } from "@/train/step.ts";
import { stepByHand } from "@/train/step_by_hand.ts";
import { SEED_LOSS_WEIGHTS } from "@/model/loss.ts";
import { trainableVariables } from "@/model/seed_model.ts";

await initBackend({ quiet: true });

function setup() {
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 64 });
  const model = buildSeedModel(backbone, { classes: 4 });
  const n = 32;
  const dim = backbone.features;
  const pooled = {
    x: Float32Array.from({ length: n * dim }, (_, i) => Math.abs(Math.sin(i * 78.233)) * 2),
    labels: Int32Array.from({ length: n }, (_, i) => i % 4),
    n,
    shape: [dim],
  };
  return { backbone, model, pooled };
}

Deno.test("step by hand: Adam's first step worked out weight by weight is trainStep's", async () => {
  const { model, pooled } = setup();
  freezeBackbone(model);
  const source = activationSource(pooled, 32, null);
  const before = await Promise.all(trainableVariables(model).map((v) => v.data()));
  const tensors = tf.memory().numTensors;
  const lr = 1e-3;
  const step = await stepByHand(
    model,
    source,
    0,
    { kind: "adam", learningRate: lr },
    SEED_LOSS_WEIGHTS,
  );
  assert.ok(
    step.api.largestDifference < 1e-6,
    `API against by hand: ${step.api.largestDifference}`,
  );
  const loss = await lossOnBatch(model, source, 0);
  for (const term of ["main", "center", "aux", "total"] as const) {
    assert.ok(
      Math.abs(step.terms[term] - loss[term]) < 1e-5,
      `${term}: ${step.terms[term]} vs ${loss[term]}`,
    );
  }
  assert.ok(Math.abs(step.api.total - step.terms.total) < 1e-5);
  // Adam's first step moves every weight with a gradient by about lr, whatever the gradient.
  const names = step.parts.map((p) => p.part).sort();
  assert.deepEqual(names, ["aux_logits", "centers", "glu_gate", "glu_linear", "main_logits"]);
  for (const p of step.parts) {
    assert.ok(p.gradientNorm > 0, `${p.part} has a gradient`);
    assert.ok(
      p.largestChange <= lr * 1.0001 && p.largestChange > lr * 0.9,
      `${p.part}: ${p.largestChange}`,
    );
  }
  assert.equal(step.firstPhoto.main.length, 4);
  assert.ok(Math.abs(step.firstPhoto.main.reduce((a, b) => a + b) - 1) < 1e-5);
  assert.deepEqual(step.gluShape, [64]);
  // The model's weights are back, and no tensor is left behind.
  const after = await Promise.all(trainableVariables(model).map((v) => v.data()));
  after.forEach((w, i) => assert.deepEqual(w, before[i]));
  assert.equal(tf.memory().numTensors, tensors);
});

Deno.test("step by hand: SGD with momentum through the unfrozen blocks (a stage 2 step)", async () => {
  const { model, backbone } = setup();
  unfreezeFrom(model);
  const { trunk, top } = splitBackbone(backbone);
  const shape = (trunk.outputs[0].shape as number[]).slice(1);
  const size = shape.reduce((a, b) => a * b, 1);
  const set = {
    x: Float32Array.from({ length: 32 * size }, (_, i) => Math.sin(i * 12.9898) * 0.5),
    labels: Int32Array.from({ length: 32 }, (_, i) => i % 4),
    n: 32,
    shape,
  };
  const source = activationSource(set, 32, top);
  const spec = { kind: "sgd" as const, learningRate: 1e-2, momentum: 0.9 };
  const step = await stepByHand(model, source, 0, spec, SEED_LOSS_WEIGHTS);
  assert.ok(
    step.api.largestDifference < 1e-6,
    `API against by hand: ${step.api.largestDifference}`,
  );
  assert.ok(
    step.parts.some((p) => p.part.startsWith("backbone ")),
    "the unfrozen blocks are parts",
  );
});
