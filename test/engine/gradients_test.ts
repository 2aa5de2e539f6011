/**
 * The replacement gradients against tfjs' own: BatchNorm against the same normalisation written
 * out in elementary ops, ClipByValue against tfjs' mask (where/logicalAnd), including values
 * exactly on the bounds; on wasm and on the pure-JS backend.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "@/engine/tf.ts";

await initBackend({ quiet: true });

for (const backend of ["wasm", "cpu"]) {
  Deno.test(`BatchNorm gradient matches the composed formula (${backend})`, async () => {
    const previous = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const before = tf.memory().numTensors;
      const [fused, composed] = tf.tidy(() => {
        const x = tf.randomUniform([2, 3, 4, 5], -2, 2, "float32", 1);
        const mean = tf.randomUniform([5], -1, 1, "float32", 2);
        const variance = tf.randomUniform([5], 0.1, 2, "float32", 3);
        const gamma = tf.randomUniform([5], 0.5, 1.5, "float32", 4);
        const beta = tf.randomUniform([5], -1, 1, "float32", 5);
        const probe = tf.randomUniform([2, 3, 4, 5], -1, 1, "float32", 6);
        const eps = 1e-3;
        const grads = (f: (...t: tf.Tensor[]) => tf.Tensor) =>
          tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(f(...t), probe)))([
            x,
            mean,
            variance,
            gamma,
            beta,
          ]).map((g) => g.dataSync() as Float32Array);
        return [
          grads((a, m, v, g, b) =>
            tf.batchNorm(
              a,
              m as tf.Tensor1D,
              v as tf.Tensor1D,
              b as tf.Tensor1D,
              g as tf.Tensor1D,
              eps,
            )
          ),
          grads((a, m, v, g, b) =>
            tf.add(tf.mul(tf.mul(tf.sub(a, m), tf.rsqrt(tf.add(v, eps))), g), b)
          ),
        ];
      });
      assert.equal(tf.memory().numTensors, before);
      const names = ["x", "mean", "variance", "scale", "offset"];
      fused.forEach((g, i) => {
        assert.equal(g.length, composed[i].length, names[i]);
        g.forEach((v, j) =>
          assert.ok(
            Math.abs(v - composed[i][j]) <= 1e-4 * Math.max(1, Math.abs(composed[i][j])),
            `d${names[i]}[${j}]: ${v} vs ${composed[i][j]}`,
          )
        );
      });
    } finally {
      await tf.setBackend(previous);
    }
  });
}

for (const backend of ["wasm", "cpu"]) {
  Deno.test(`ClipByValue gradient: the inclusive mask, bounds included (${backend})`, async () => {
    const previous = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const [got, want] = tf.tidy(() => {
        const x = tf.tensor1d([-3, -1e-7, 0, 1e-7, 2.5, 6 - 1e-6, 6, 6.000001, 9, NaN]);
        const dy = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        const ours = tf.grad((a: tf.Tensor) => tf.clipByValue(a, 0, 6))(x, dy);
        const reference = tf.where(
          tf.logicalAnd(tf.greaterEqual(x, 0), tf.lessEqual(x, 6)),
          dy,
          tf.zerosLike(dy),
        );
        return [ours.arraySync() as number[], reference.arraySync() as number[]];
      });
      assert.deepEqual(got.slice(0, 9), want.slice(0, 9));
      assert.deepEqual(got.slice(0, 9), [0, 0, 3, 4, 5, 6, 7, 0, 0]);
      // The one documented difference: a NaN input gives a NaN gradient (tfjs' own gives 0).
      assert.equal(want[9], 0);
      assert.ok(Number.isNaN(got[9]), `NaN input: got ${got[9]}`);
    } finally {
      await tf.setBackend(previous);
    }
  });
}
