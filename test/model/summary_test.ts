import assert from "node:assert/strict";
import { initBackend } from "@/engine/tf.ts";
import { buildBackbone, splitBackbone } from "@/model/index.ts";
import { buildSeedModel } from "@/model/seed_model.ts";
import { modelParts } from "@/model/summary.ts";
import { PRESETS } from "@/run/presets.ts";

await initBackend({ quiet: true });

Deno.test("modelParts: every parameter counted once, and what each stage trains", () => {
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 96 });
  const model = buildSeedModel(backbone, { classes: 10 });
  const trainableBefore = backbone.model.layers.map((l) => l.trainable);
  const parts = modelParts(model, PRESETS.cpu.stages);
  assert.deepEqual(backbone.model.layers.map((l) => l.trainable), trainableBefore, "restored");
  assert.deepEqual(parts.map((p) => p.stages.frozen), [
    "frozen",
    "frozen",
    "trains",
    "trains",
    "trains",
    "trains",
  ]);
  assert.deepEqual(parts.map((p) => p.stages["fine-tune"]).slice(0, 2), ["frozen", "trains"]);
  const [trunk, top, glu, main, aux, centers] = parts.map((p) => p.parameters);
  // The top's BatchNorm moving statistics are the only weights not counted.
  const { top: topModel } = splitBackbone(backbone);
  const moving = topModel.layers.flatMap((l) => l.weights).filter((w) => /moving_/.test(w.name))
    .reduce((n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!, 0);
  assert.ok(moving > 0);
  assert.equal(trunk + top + moving, backbone.model.countParams());
  assert.equal(glu, 2 * (1280 * 64 + 64));
  assert.equal(main, 64 * 10 + 10);
  assert.equal(aux, 1280 * 10 + 10);
  assert.equal(centers, 10 * 64);
});
