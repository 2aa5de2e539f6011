/**
 * The wasm fast paths (lib/wasm_fast_paths.ts) give the pure-JS backend's values: sums and means
 * over leading or middle axes, with and without keepDims, and matmuls with transposed operands,
 * both orientations of the packed operand, with batch dimensions.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "@/engine/tf.ts";
import { kernelRuns } from "@/engine/wasm_kernel.ts";

await initBackend({ quiet: true });

function on(backend: string, f: () => tf.Tensor): { values: Float32Array; shape: number[] } {
  const previous = tf.getBackend();
  tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const y = f();
      return { values: y.dataSync() as Float32Array, shape: y.shape };
    });
  } finally {
    tf.setBackend(previous);
  }
}

/** The fast path `kernel` ran on wasm (or, with null, none did: wasm's own kernel is right). */
function same(f: () => tf.Tensor, kernel: string | null, tolerance = 1e-4) {
  const want = on("cpu", f);
  const runs = new Map(kernelRuns);
  const got = on("wasm", f);
  const ran = [...kernelRuns].filter(([name, n]) => n > (runs.get(name) ?? 0)).map(([k]) => k);
  if (kernel) assert.ok(ran.includes(kernel), `the ${kernel} fast path ran (ran: ${ran})`);
  else assert.deepEqual(ran, [], "wasm's own kernel, no fast path");
  assert.deepEqual(got.shape, want.shape);
  const scale = Math.max(1, ...want.values.map(Math.abs));
  const diff = Math.max(0, ...got.values.map((v, i) => Math.abs(v - want.values[i])));
  assert.ok(diff < tolerance * scale, `max |difference| ${diff} at scale ${scale}`);
}

const x4 = () => tf.randomUniform([6, 5, 4, 7], -1, 1, "float32", 1);
const reductions: [string, () => tf.Tensor, string | null][] = [
  ["sum over N, H, W (a bias gradient)", () => tf.sum(x4(), [0, 1, 2]), "Sum"],
  ["sum over N, H, W, negative axes, keepDims", () => tf.sum(x4(), [-4, -3, -2], true), "Sum"],
  ["sum over the middle axes", () => tf.sum(x4(), [1, 2]), "Sum"],
  ["sum over the first axis", () => tf.sum(x4(), 0), "Sum"],
  ["mean over H, W (global average pooling)", () => tf.mean(x4(), [1, 2]), "Mean"],
  ["mean over N, H, W, keepDims", () => tf.mean(x4(), [0, 1, 2], true), "Mean"],
  ["sum over the innermost axis (wasm's own kernel)", () => tf.sum(x4(), 3), null],
  ["sum over every axis (wasm's own kernel)", () => tf.sum(x4()), null],
  ["sum of non-contiguous axes (wasm's own kernel)", () => tf.sum(x4(), [0, 2]), null],
];
for (const [name, f, kernel] of reductions) {
  Deno.test(`wasm fast paths: ${name}`, () => same(f, kernel));
}

const a = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, "float32", seed);
const products: [string, () => tf.Tensor][] = [
  ["x^T dy, wide dy (a Dense weight gradient)", () => tf.matMul(a([9, 20], 2), a([9, 4], 3), true)],
  ["x^T dy, narrow dy", () => tf.matMul(a([9, 4], 2), a([9, 20], 3), true)],
  [
    "dy W^T, wide output (a Dense input gradient)",
    () => tf.matMul(a([3, 5], 4), a([30, 5], 5), false, true),
  ],
  ["dy W^T, narrow output", () => tf.matMul(a([30, 5], 4), a([3, 5], 5), false, true)],
  ["both transposed", () => tf.matMul(a([5, 3], 6), a([8, 5], 7), true, true)],
  ["batched, transposed A", () => tf.matMul(a([2, 6, 3], 8), a([2, 6, 10], 9), true)],
  ["batched, transposed B", () => tf.matMul(a([2, 4, 6], 8), a([2, 3, 6], 9), false, true)],
  ["plain product (wasm's own kernel)", () => tf.matMul(a([4, 6], 10), a([6, 3], 11))],
];
for (const [name, f] of products) {
  const kernel = name.includes("wasm's own") ? null : "BatchMatMul";
  Deno.test(`wasm fast paths: matMul ${name}`, () => same(f, kernel));
}

Deno.test("wasm fast paths leave no tensors behind", () => {
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    tf.sum(x4(), [0, 1, 2]).dataSync();
    tf.mean(x4(), [1, 2]).dataSync();
    tf.matMul(a([9, 20], 2), a([9, 4], 3), true).dataSync();
  });
  assert.equal(tf.memory().numTensors, before);
});
