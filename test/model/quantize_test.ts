/**
 * The int8 quantizer (lib/model/quantize.ts) on its own terms: per-channel weights round to within
 * half a step, zero stays exact, and on a small convolution whose inputs are not centred the bias
 * correction takes out the mean shift the rounded weights cause (without it, the error is several
 * times larger). ONNX Runtime runs both graphs.
 */
import assert from "node:assert/strict";
import { OnnxGraph } from "@/model/onnx_graph.ts";
import {
  activationParams,
  calibrate,
  quantizedActivations,
  quantizeModel,
  quantizeWeights,
} from "@/model/quantize.ts";
import { OnnxSession } from "@/engine/onnx.ts";
import { Rng } from "@/rng.ts";

Deno.test("quantizeWeights: one scale per channel of the axis, each weight within half a step", () => {
  // [out 3, in 2, 1, 1]: channel 1 is 100x smaller, channel 2 all zeros.
  const w = new Float32Array([0.5, -1.27, 0.005, -0.0127, 0, 0]);
  const { q, scales } = quantizeWeights(w, [3, 2, 1, 1], 0);
  assert.deepEqual(Array.from(scales, (s) => +s.toFixed(6)), [0.01, 0.0001, 1]);
  w.forEach((v, i) =>
    assert.ok(Math.abs(q[i] * scales[Math.floor(i / 2)] - v) <= scales[Math.floor(i / 2)] / 2)
  );
  assert.deepEqual(Array.from(q), [50, -127, 50, -127, 0, 0]);
  // A dense kernel [in 2, out 3], per output column.
  const dense = new Float32Array([1, 0.1, 0, -2, 0.2, 0]);
  const byColumn = quantizeWeights(dense, [2, 3], 1);
  assert.deepEqual(
    Array.from(byColumn.scales, (s) => +s.toFixed(6)),
    [2 / 127, 0.2 / 127, 1].map((s) => +s.toFixed(6)),
  );
  assert.deepEqual(Array.from(byColumn.q), [64, 64, 0, -127, 127, 0]);
});

Deno.test("activationParams: zero is exact, ReLU6's range starts at zero point 0", () => {
  assert.deepEqual(activationParams({ min: 0, max: 6 }), { scale: 6 / 255, zeroPoint: 0 });
  const p = activationParams({ min: -1, max: 3 });
  assert.equal(p.zeroPoint, 64);
  assert.ok(Math.abs(p.scale - 4 / 255) < 1e-12);
  // A range that misses zero is widened to it (padding writes zeros).
  assert.equal(activationParams({ min: 2, max: 5 }).zeroPoint, 0);
});

/** input [n, 3, 8, 8] -> 3x3 conv (8 channels, bias, no padding) -> ReLU6 -> global pooling. */
function smallModel(rng: Rng): Uint8Array {
  const g = new OnnxGraph();
  g.input("pixel_values", ["batch", 3, 8, 8]);
  const random = (n: number, scale: number) =>
    Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
  const conv = g.node("Conv", [
    "pixel_values",
    g.weight("kernel", random(8 * 3 * 9, 0.3), [8, 3, 3, 3]),
    g.weight("bias", random(8, 0.1), [8]),
  ], { kernel_shape: [3, 3] }); // no padding: every tap sees the input's mean
  const relu = g.node("Clip", [conv, g.scalar(0), g.scalar(6)]);
  const pooled = g.node("Flatten", [g.node("GlobalAveragePool", [relu])], { axis: 1 });
  g.output(pooled, "logits", ["batch", 8]);
  return g.encode("small");
}

Deno.test("quantizeModel: int8 close to float, and the bias correction removes the mean shift", async () => {
  const rng = new Rng(7);
  const fp32 = smallModel(rng);
  assert.deepEqual(quantizedActivations(fp32), ["pixel_values", "Clip_5"]);
  // Inputs around 0.6, not 0: a weight's rounding error times that mean shifts every output.
  const images = (n: number) =>
    Float32Array.from({ length: n * 3 * 64 }, () => 0.6 + (rng.next() - 0.5) * 0.4);
  const batches = async function* () {
    for (let i = 0; i < 4; i++) yield { images: images(16), n: 16 };
  };
  const ranges = await calibrate(fp32, batches());
  const x = images(32);
  const run = async (bytes: Uint8Array) => {
    const session = await OnnxSession.create(bytes, 1);
    try {
      return (await session.runNamed({ pixel_values: { data: x, dims: [32, 3, 8, 8] } })).logits;
    } finally {
      await session.release();
    }
  };
  const want = await run(fp32);
  /** Mean |error| over outputs, and the systematic part: each output's error averaged over the
   * photos first (what a bias shift is), then its size. */
  const errors = async (bytes: Uint8Array) => {
    const got = await run(bytes);
    const mean = got.reduce((sum, v, i) => sum + Math.abs(v - want[i]), 0) / got.length;
    const shift = Array.from(
      { length: 8 },
      (_, c) =>
        Math.abs(got.reduce((sum, v, i) => (i % 8 === c ? sum + v - want[i] : sum), 0) / 32),
    );
    return { mean, shift: shift.reduce((a, b) => a + b) / 8 };
  };
  const corrected = await errors(quantizeModel(fp32, ranges));
  const plain = await errors(quantizeModel(fp32, ranges, { biasCorrection: false }));
  const scale = want.reduce((sum, v) => sum + Math.abs(v), 0) / want.length;
  assert.ok(corrected.mean < 0.02 * scale, `int8 error ${corrected.mean} against outputs ${scale}`);
  assert.ok(
    corrected.shift < plain.shift / 3,
    `bias correction: shift ${corrected.shift} against ${plain.shift} without`,
  );
});
