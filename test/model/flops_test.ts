import assert from "node:assert/strict";
import { initBackend } from "@/engine/tf.ts";
import { buildBackbone, splitBackbone } from "@/model/index.ts";
import { modelFlops } from "@/model/flops.ts";

await initBackend({ quiet: true });

/** Keras' published multiply-adds (applications table), less the 1000-way classifier. */
const close = (got: number, macs: number, tolerance = 0.015) =>
  assert.ok(
    Math.abs(got / (2 * macs) - 1) < tolerance,
    `${(got / 1e6).toFixed(1)} MFLOP vs ${(2 * macs / 1e6).toFixed(1)} published`,
  );

Deno.test("flops: MobileNetV2 1.0 and 0.35 at 224 match the published multiply-adds", () => {
  close(modelFlops(buildBackbone("mobilenet_v2", { alpha: 1 }).model), 300e6 - 1.281e6);
  close(modelFlops(buildBackbone("mobilenet_v2", { alpha: 0.35 }).model), 59e6 - 1.281e6);
});

Deno.test("flops: trunk + top = whole; Xception at 299 is ~8.4 G multiply-adds", () => {
  const net = buildBackbone("mobilenet_v2", { alpha: 0.35 });
  const { trunk, top } = splitBackbone(net);
  assert.equal(modelFlops(trunk) + modelFlops(top), modelFlops(net.model));
  assert.ok(modelFlops(top) > 0.15 * modelFlops(net.model));
  close(modelFlops(buildBackbone("xception").model), 8.4e9 - 2.049e6, 0.02);
});
