import assert from "node:assert/strict";
import { initBackend, tf } from "@/engine/tf.ts";
import { buildBackbone, splitBackbone } from "@/model/index.ts";
import { foldModel } from "@/model/fold.ts";
import { Rng } from "@/rng.ts";

await initBackend({ quiet: true });

/** Gives every BatchNormalization non-trivial statistics, so folding has something to get wrong. */
function randomizeBatchNorm(model: tf.LayersModel, seed: number): number {
  const rng = new Rng(seed);
  let count = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== "BatchNormalization") continue;
    count++;
    layer.setWeights(
      layer.getWeights().map((w) => {
        const name = layer.weights[layer.getWeights().indexOf(w)].originalName ?? "";
        const values = Float32Array.from(
          { length: w.size },
          () => name.endsWith("variance") ? 0.2 + rng.next() : rng.next() * 2 - 1,
        );
        return tf.tensor(values, w.shape);
      }),
    );
  }
  return count;
}

function maxDifference(a: tf.Tensor, b: tf.Tensor): { diff: number; scale: number } {
  return tf.tidy(() => ({
    diff: tf.max(tf.abs(tf.sub(a, b))).dataSync()[0],
    scale: tf.max(tf.abs(a)).dataSync()[0],
  }));
}

Deno.test("fold: MobileNetV2 folded matches the Keras layers, every BatchNorm folded", () => {
  const net = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 64 });
  const norms = randomizeBatchNorm(net.model, 1);
  assert.equal(norms, 52);
  const folded = foldModel(net.model);
  assert.equal(folded.folded, 52);
  // Every ZeroPadding2D (the stem's Conv1_pad, blocks 1, 3, 6 and 13) became the padding of the
  // convolution after it.
  assert.equal(folded.paddings, 5);
  assert.deepEqual(folded.outputShape, [1280]);
  const x = tf.randomUniform([3, 64, 64, 3], -1, 1, "float32", 7);
  const want = net.model.predict(x) as tf.Tensor;
  const before = tf.memory().numTensors;
  const got = folded.predict(x);
  assert.equal(tf.memory().numTensors, before + 1, "predict leaves only its result");
  const { diff, scale } = maxDifference(want, got);
  assert.ok(scale > 0.1, `output scale ${scale}`);
  assert.ok(diff < 1e-4 * Math.max(1, scale), `max |difference| ${diff} at scale ${scale}`);
  const weights = tf.memory().numTensors;
  folded.dispose();
  assert.ok(tf.memory().numTensors < weights, "dispose frees the folded weights");
  tf.dispose([x, want, got]);
});

Deno.test("fold: a trunk (split before block_15) folds the same as the whole", () => {
  const net = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 64 });
  randomizeBatchNorm(net.model, 2);
  const { trunk } = splitBackbone(net);
  const folded = foldModel(trunk);
  assert.equal(folded.folded, 45);
  assert.deepEqual(folded.outputShape, [2, 2, 56]);
  const x = tf.randomUniform([2, 64, 64, 3], -1, 1, "float32", 8);
  const want = trunk.predict(x) as tf.Tensor;
  const got = folded.predict(x);
  const { diff, scale } = maxDifference(want, got);
  assert.ok(diff < 1e-4 * Math.max(1, scale), `max |difference| ${diff} at scale ${scale}`);
  folded.dispose();
  tf.dispose([x, want, got]);
});

Deno.test("fold: Xception's separable convolutions, max-pools and residual 1x1s fold too", () => {
  const net = buildBackbone("xception", { size: 71 });
  const norms = randomizeBatchNorm(net.model, 3);
  const folded = foldModel(net.model);
  assert.equal(folded.folded, norms);
  const x = tf.randomUniform([1, 71, 71, 3], -1, 1, "float32", 9);
  const want = net.model.predict(x) as tf.Tensor;
  const got = folded.predict(x);
  const { diff, scale } = maxDifference(want, got);
  assert.ok(scale > 0.1, `output scale ${scale}`);
  assert.ok(diff < 1e-3 * Math.max(1, scale), `max |difference| ${diff} at scale ${scale}`);
  folded.dispose();
  tf.dispose([x, want, got]);
});

Deno.test("fold: the trainable top gives the Keras layers' outputs and gradients", () => {
  const net = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 64 });
  randomizeBatchNorm(net.model, 4);
  const { top } = splitBackbone(net);
  top.trainable = true;
  const variables = top.trainableWeights.map((w) => w.read() as tf.Variable);
  // Kernels, BatchNorm gamma and beta of block_15, block_16 and Conv_1 (moving statistics stay).
  assert.equal(variables.length, 3 * 3 + 3 * 3 + 1 + 2);
  const folded = foldModel(top, { trainable: true });
  assert.equal(folded.folded, 7);
  const x = tf.randomUniform([3, 2, 2, 56], -1, 1, "float32", 10);
  const target = tf.randomNormal([3, 1280], 0, 1, "float32", 11);
  const loss = (f: () => tf.Tensor) => () => tf.sum(tf.mul(f(), target)) as tf.Scalar;
  const want = tf.variableGrads(
    loss(() => top.apply(x, { training: false }) as tf.Tensor),
    variables,
  );
  const before = tf.memory().numTensors;
  const got = tf.variableGrads(loss(() => folded.predict(x)), variables);
  assert.equal(tf.memory().numTensors, before + variables.length + 1, "only grads and value kept");
  assert.ok(Math.abs(want.value.dataSync()[0]) > 1);
  // Relative to the whole gradient (float32 sums in another order: ~5e-7 seen).
  const relative = (a: tf.Tensor, b: tf.Tensor) =>
    tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0] / tf.norm(b).dataSync()[0]);
  const valueError = relative(got.value, want.value);
  assert.ok(valueError < 1e-4, `loss differs by ${valueError} (relative)`);
  for (const v of variables) {
    const scale = tf.tidy(() => tf.norm(want.grads[v.name]).dataSync()[0]);
    assert.ok(scale > 0, `${v.name}: no gradient`);
    const error = relative(got.grads[v.name], want.grads[v.name]);
    assert.ok(error < 1e-5, `${v.name}: relative difference ${error}`);
  }
  tf.dispose([x, target, want.value, got.value, ...Object.values(want.grads)]);
  tf.dispose(Object.values(got.grads));
  folded.dispose();
});
