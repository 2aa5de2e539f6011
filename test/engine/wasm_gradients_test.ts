/**
 * The wasm gradient kernels against the pure-JS backend's reference gradients, for the shapes
 * the unfrozen blocks use (1x1, 3x3, depthwise, stride 1 and 2, same and valid padding).
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "@/engine/tf.ts";
import { kernelRuns } from "@/engine/wasm_kernel.ts";

await initBackend({ quiet: true });

type Shape4 = [number, number, number, number];
type Case = {
  name: string;
  f: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor;
  x: Shape4;
  w: Shape4;
};
const cases: Case[] = [
  {
    name: "conv 1x1 s1",
    f: (x, w) => tf.conv2d(x, w, 1, "same"),
    x: [2, 5, 5, 6],
    w: [1, 1, 6, 4],
  },
  {
    name: "conv 1x1 s2",
    f: (x, w) => tf.conv2d(x, w, 2, "same"),
    x: [2, 6, 6, 3],
    w: [1, 1, 3, 5],
  },
  {
    name: "conv 3x3 s1 same",
    f: (x, w) => tf.conv2d(x, w, 1, "same"),
    x: [2, 6, 5, 3],
    w: [3, 3, 3, 4],
  },
  {
    // More input than output channels: the filter gradient takes its x^T dy orientation.
    name: "conv 3x3 s1 same, narrowing",
    f: (x, w) => tf.conv2d(x, w, 1, "same"),
    x: [2, 5, 5, 6],
    w: [3, 3, 6, 4],
  },
  {
    name: "conv 3x3 s2 valid",
    f: (x, w) => tf.conv2d(x, w, 2, "valid"),
    x: [1, 7, 7, 2],
    w: [3, 3, 2, 3],
  },
  {
    name: "depthwise 3x3 s1 same",
    f: (x, w) => tf.depthwiseConv2d(x, w, 1, "same"),
    x: [2, 6, 5, 4],
    w: [3, 3, 4, 1],
  },
  {
    name: "depthwise 3x3 s1 valid",
    f: (x, w) => tf.depthwiseConv2d(x, w, 1, "valid"),
    x: [2, 6, 6, 3],
    w: [3, 3, 3, 1],
  },
  {
    name: "depthwise 3x3 s2 valid (Keras' explicit stride-2 padding)",
    f: (x, w) => tf.depthwiseConv2d(x, w, 2, "valid"),
    x: [2, 9, 9, 3],
    w: [3, 3, 3, 1],
  },
  {
    name: "depthwise 3x3 s2 same, even side",
    f: (x, w) => tf.depthwiseConv2d(x, w, 2, "same"),
    x: [2, 8, 6, 5],
    w: [3, 3, 5, 1],
  },
  {
    name: "depthwise 3x3 s2 same, odd side",
    f: (x, w) => tf.depthwiseConv2d(x, w, 2, "same"),
    x: [1, 7, 7, 2],
    w: [3, 3, 2, 1],
  },
  {
    name: "depthwise 5x5 s1 same",
    f: (x, w) => tf.depthwiseConv2d(x, w, 1, "same"),
    x: [2, 6, 6, 3],
    w: [5, 5, 3, 1],
  },
  {
    name: "separable 3x3 s1 same",
    f: (x, w) => tf.separableConv2d(x, w, tf.ones([1, 1, w.shape[2], 2]) as tf.Tensor4D, 1, "same"),
    x: [1, 5, 5, 3],
    w: [3, 3, 3, 1],
  },
];

function gradients(backend: string, c: Case): Float32Array[] {
  const previous = tf.getBackend();
  tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const x = tf.randomUniform(c.x, -1, 1, "float32", 1) as tf.Tensor4D;
      const w = tf.randomUniform(c.w, -1, 1, "float32", 2) as tf.Tensor4D;
      const probe = tf.randomUniform(c.f(x, w).shape, -1, 1, "float32", 3);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(c.f(a as tf.Tensor4D, b as tf.Tensor4D), probe))
      )([x, w]);
      return [dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
    });
  } finally {
    tf.setBackend(previous);
  }
}

/** The project's kernels a case's gradients must run on wasm (tfjs' wasm has none of them). */
function expectedKernels(c: Case): string[] {
  if (c.name.startsWith("conv")) {
    const pointwise = c.w[0] === 1 && c.name.includes("s1");
    return ["Conv2DBackpropFilter", ...(pointwise ? ["Conv2DBackpropInput"] : [])];
  }
  if (c.name.startsWith("separable")) return ["DepthwiseConv2dNativeBackpropFilter"];
  return ["DepthwiseConv2dNativeBackpropFilter", "DepthwiseConv2dNativeBackpropInput"];
}

for (const c of cases) {
  Deno.test(`wasm gradients match the cpu backend: ${c.name}`, () => {
    const [cpuDx, cpuDw] = gradients("cpu", c);
    const runs = new Map(kernelRuns);
    const [wasmDx, wasmDw] = gradients("wasm", c);
    for (const kernel of expectedKernels(c)) {
      assert.ok(
        (kernelRuns.get(kernel) ?? 0) > (runs.get(kernel) ?? 0),
        `${kernel}: the project's kernel ran`,
      );
    }
    const diff = (a: Float32Array, b: Float32Array) =>
      Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    assert.ok(diff(cpuDx, wasmDx) < 1e-4, `dx ${diff(cpuDx, wasmDx)}`);
    assert.ok(diff(cpuDw, wasmDw) < 1e-4, `dw ${diff(cpuDw, wasmDw)}`);
  });
}

Deno.test("wasm gradient kernels leave no tensors behind", () => {
  const before = tf.memory().numTensors;
  gradients("wasm", cases[5]);
  gradients("wasm", cases[4]);
  assert.equal(tf.memory().numTensors, before);
});
