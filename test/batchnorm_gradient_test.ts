/**
 * The replacement BatchNorm gradient against the gradient of the same normalisation written out
 * in elementary ops (whose gradients are tfjs' own), on wasm and on the pure-JS backend.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "@/tf.ts";

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
