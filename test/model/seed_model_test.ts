import assert from "node:assert/strict";
import { initBackend, tf } from "@/engine/tf.ts";
import {
  buildBackbone,
  buildSeedModel,
  centerLoss,
  forward,
  freezeBackbone,
  predictionModel,
  seedLoss,
  trainableVariables,
  unfreezeFrom,
} from "@/model/index.ts";

await initBackend({ quiet: true });
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) =>
  a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - b[i]) < tol);

Deno.test("GLU head: Dense(U) * sigmoid(Dense(U)) against a hand computation", () => {
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 32 });
  const model = buildSeedModel(backbone, { classes: 3, gluUnits: 2 });
  const F = backbone.features;
  // Only the first two features are non-zero, so the computation stays small.
  const w = new Float32Array(F * 2);
  w.set([1, 2, 3, 4]); // rows 0 and 1 of a [F, 2] kernel
  const g = new Float32Array(F * 2);
  g.set([0.5, -1, 0, 2]);
  model.head.getLayer("glu_linear").setWeights([tf.tensor2d(w, [F, 2]), tf.tensor1d([0.1, -0.2])]);
  model.head.getLayer("glu_gate").setWeights([tf.tensor2d(g, [F, 2]), tf.tensor1d([0, 0.3])]);
  const x = new Float32Array(F);
  x.set([1, 2]);
  const [glu] = model.head.predict(tf.tensor2d(x, [1, F])) as tf.Tensor[];
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  // linear = [1*1 + 2*3 + 0.1, 1*2 + 2*4 - 0.2] = [7.1, 9.8]; gate = sigmoid([0.5 + 0, -1 + 4 + 0.3])
  assert.ok(close(glu.dataSync(), [7.1 * sigmoid(0.5), 9.8 * sigmoid(3.3)]), `${glu.dataSync()}`);
});

Deno.test("center loss: value and gradients against hand-computed numbers", () => {
  const f = tf.tensor2d([[1, 2], [3, 5]]);
  const centers = tf.tensor2d([[0, 1], [9, 9], [2, 2]]);
  const labels = tf.tensor1d([0, 2], "int32");
  // sample 0: (1-0)^2 + (2-1)^2 = 2; sample 1: (3-2)^2 + (5-2)^2 = 10; mean = 6
  assert.ok(close(centerLoss(f, labels, centers).dataSync(), [6]));
  const grads = tf.grads((ff: tf.Tensor, cc: tf.Tensor) => centerLoss(ff, labels, cc))([
    f,
    centers,
  ]);
  // d/df_i = 2 (f_i - c_yi) / B ; d/dc_k = -2 sum_{i: y_i = k} (f_i - c_k) / B
  assert.ok(close(grads[0].dataSync(), [1, 1, 1, 3]), `df ${grads[0].dataSync()}`);
  assert.ok(close(grads[1].dataSync(), [-1, -1, 0, 0, -1, -3]), `dc ${grads[1].dataSync()}`);
});

Deno.test("seed loss: CE(main) + 0.25 center + 0.25 CE(aux), weights configurable", () => {
  const glu = tf.tensor2d([[1, 0], [0, 1]]);
  const main = tf.tensor2d([[2, 0], [0, 1]]);
  const aux = tf.tensor2d([[0, 0], [1, 3]]);
  const centers = tf.zeros([2, 2]);
  const labels = tf.tensor1d([0, 1], "int32");
  const ce = (logits: number[], y: number) =>
    Math.log(logits.reduce((s, v) => s + Math.exp(v), 0)) - logits[y];
  const mainCe = (ce([2, 0], 0) + ce([0, 1], 1)) / 2;
  const auxCe = (ce([0, 0], 0) + ce([1, 3], 1)) / 2;
  const terms = seedLoss([glu, main, aux], labels, centers);
  assert.ok(close(terms.main.dataSync(), [mainCe]));
  assert.ok(close(terms.aux.dataSync(), [auxCe]));
  assert.ok(close(terms.center.dataSync(), [1]));
  assert.ok(close(terms.total.dataSync(), [mainCe + 0.25 * 1 + 0.25 * auxCe]));
  const plain = seedLoss([glu, main, aux], labels, centers, { center: 0, aux: 0 });
  assert.ok(close(plain.total.dataSync(), [mainCe]));
});

Deno.test("freezing: stage 1 trains head + centers only; unfreezing adds exactly the last blocks", () => {
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 32 });
  const model = buildSeedModel(backbone, { classes: 5 });
  freezeBackbone(model);
  const names = () => trainableVariables(model).map((v) => v.name);
  assert.equal(
    trainableVariables(model).length,
    4 * 2 + 1,
    "4 dense layers (kernel + bias) and the centers",
  );
  assert.ok(names().every((n) => /glu_|main_logits|aux_logits|centers/.test(n)), names().join());
  const unfrozen = unfreezeFrom(model);
  assert.deepEqual(unfrozen, [
    "block_15_expand",
    "block_15_expand_BN",
    "block_15_depthwise",
    "block_15_depthwise_BN",
    "block_15_project",
    "block_15_project_BN",
    "block_16_expand",
    "block_16_expand_BN",
    "block_16_depthwise",
    "block_16_depthwise_BN",
    "block_16_project",
    "block_16_project_BN",
    "Conv_1",
    "Conv_1_bn",
  ]);
  const backboneTrainable = backbone.model.trainableWeights.map((w) =>
    w.originalName.split("/")[0]
  );
  assert.deepEqual([...new Set(backboneTrainable)], unfrozen);
  freezeBackbone(model);
  assert.equal(backbone.model.trainableWeights.length, 0);

  const xception = buildSeedModel(buildBackbone("xception", { size: 71 }), { classes: 5 });
  const xUnfrozen = unfreezeFrom(xception);
  assert.equal(xUnfrozen[0], "block13_sepconv1");
  assert.ok(
    xUnfrozen.every((n) => /^block1[34]_|^conv2d_4$|^batch_normalization_4$/.test(n)),
    xUnfrozen.join(),
  );
  assert.ok(!xUnfrozen.some((n) => n.startsWith("block12")));
});

Deno.test("prediction model: image -> [main, aux] probabilities, same as the training forward", () => {
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 32 });
  const model = buildSeedModel(backbone, { classes: 4 });
  const x = tf.randomUniform([3, 32, 32, 3], -1, 1, "float32", 7) as tf.Tensor4D;
  const [main, aux] = predictionModel(model).predict(x) as tf.Tensor[];
  assert.deepEqual(main.shape, [3, 4]);
  assert.ok(close(tf.sum(main, 1).dataSync(), [1, 1, 1]));
  const [, mainLogits, auxLogits] = forward(model, x);
  assert.ok(close(main.dataSync(), tf.softmax(mainLogits).dataSync()));
  assert.ok(close(aux.dataSync(), tf.softmax(auxLogits).dataSync()));
});
