/** End-to-end mode (the native / GPU path): images every step, the whole backbone in the graph. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { buildBackbone, loadPretrained, splitBackbone } from "@/model/index.ts";
import { train } from "@/train/run.ts";
import type { Preset } from "@/run/presets.ts";
import { makeColourDataset, SHARED_MOBILENET, tempDir } from "../fixtures.ts";

await initBackend({ quiet: true });

Deno.test("end-to-end mode: both stages train on augmented images and validate", async () => {
  const dir = await tempDir();
  await makeColourDataset(join(dir, "data"));
  // The seed's stage-2 optimizer (1e-3 knocks this tiny 32 px model back to chance).
  const sgd = { kind: "sgd" as const, learningRate: 1e-4, momentum: 0.9 };
  const preset: Preset = {
    name: "tiny-e2e",
    backbone: { name: "mobilenet_v2", alpha: 0.35, size: 32 },
    batchSize: 8,
    mode: "end-to-end",
    cachedBatches: 0,
    stages: [
      {
        name: "frozen",
        rounds: 1,
        stepsPerRound: 60,
        optimizer: { kind: "adam", learningRate: 1e-2 },
        policy: "Train_DA",
        unfreeze: false,
      },
      {
        name: "fine-tune",
        rounds: 1,
        stepsPerRound: 3,
        optimizer: sgd,
        policy: "Train_DA",
        unfreeze: true,
      },
    ],
    transferStages: [],
  };
  const result = await train({
    data: join(dir, "data"),
    weights: SHARED_MOBILENET,
    out: join(dir, "run"),
    preset,
    cacheDir: join(dir, "cache"),
    valFraction: 0.3, // 18 validation photos: enough to tell learning from chance
    log: () => {},
  });
  assert.deepEqual(result.history.map((h) => h.stage), ["frozen", "fine-tune"]);
  for (const h of result.history) {
    assert.ok(Number.isFinite(h.metrics.loss.total) && h.metrics.loss.total > 0);
    assert.ok(h.metrics.blend >= 0 && h.metrics.blend <= 1);
  }
  assert.ok(result.best);
  // Three colours: far above chance (1/3) on the validation photos, and fine-tuning keeps it.
  for (const h of result.history) {
    assert.ok(h.metrics.blend >= 0.8, `${h.stage}: blend ${h.metrics.blend}`);
  }

  // What trained: the unfrozen top (block_15 on) and the head changed, the trunk did not.
  const fresh = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 32 });
  await loadPretrained(fresh, SHARED_MOBILENET);
  const { trunk, top } = splitBackbone(fresh);
  const trained = result.model.backbone.model;
  const same = (name: string) =>
    trained.getLayer(name).getWeights().every((w, i) =>
      tf.tidy(() => tf.equal(w, fresh.model.getLayer(name).getWeights()[i]).all().dataSync()[0])
    );
  const withWeights = (m: tf.LayersModel) => m.layers.filter((l) => l.getWeights().length);
  assert.ok(withWeights(trunk).every((l) => same(l.name)), "trunk unchanged");
  const topKernels = withWeights(top).filter((l) => !l.name.endsWith("_BN"));
  assert.ok(topKernels.length >= 7);
  assert.ok(topKernels.every((l) => !same(l.name)), "every unfrozen convolution trained");
  await Deno.remove(dir, { recursive: true });
});
