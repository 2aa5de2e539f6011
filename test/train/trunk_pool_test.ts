/** The trunk on two worker cores gives exactly the single-thread activations, on tfjs and on
 * ONNX Runtime; and the two engines agree. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { buildBackbone, loadPretrained, splitBackbone } from "@/model/index.ts";
import { cacheImages } from "@/data/cache.ts";
import { readImageFolder } from "@/data/readers.ts";
import { inlineStream, poolStream } from "@/augment/pipeline.ts";
import { LabelMap } from "@/data/labels.ts";
import { foldModel } from "@/model/fold.ts";
import { activationsOfPhotos, activationsOfStream } from "@/train/features.ts";
import { TrunkPool } from "@/train/trunk_pool.ts";
import { onnxRunner, tfjsRunner } from "@/model/runner.ts";
import { toOnnx } from "@/model/onnx.ts";
import { assertSameValues, makeColourDataset, SHARED_MOBILENET, tempDir } from "../fixtures.ts";

await initBackend({ quiet: true });

/** The colour dataset cached at 64 px, and a Train_DA stream of 8-photo batches over it. */
async function colourStream() {
  const dir = await tempDir();
  await makeColourDataset(join(dir, "data"));
  const listing = await readImageFolder(join(dir, "data"));
  const cache = await cacheImages(listing.train, { size: 64, dir: join(dir, "cache") });
  const labels = LabelMap.fromLabels(["class0", "class1", "class2"]);
  const config = poolStream(cache, listing.train, labels, {
    policy: "Train_DA",
    seed: 5,
    batchSize: 8,
  });
  return { dir, listing, cache, config };
}

Deno.test("trunk pool: two workers, same activations as one thread, batches and photos", async () => {
  const { dir, listing, cache, config } = await colourStream();
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 64 });
  await loadPretrained(backbone, SHARED_MOBILENET);
  // The workers fold the trunk's BatchNorms; so does the main thread (as training does).
  const trunk = foldModel(splitBackbone(backbone).trunk);
  const shape = trunk.outputShape;
  const pool = new TrunkPool({
    backend: tf.getBackend() as "wasm",
    backbone: { name: "mobilenet_v2", alpha: 0.35, size: 64 },
    weights: SHARED_MOBILENET,
    splitStage: backbone.spec.unfreezeFromStage,
    cache: cache.view,
  }, 2);
  try {
    const parallel = await pool.stream(config, 5, shape);
    const single = await activationsOfStream(
      tfjsRunner(trunk, [64, 64, 3]),
      inlineStream(config),
      5,
    );
    assert.equal(parallel.n, 40);
    assert.deepEqual(parallel.labels, single.labels);
    assertSameValues(parallel.x, single.x, "two workers");
    const photos = listing.train.slice(0, 37).map((p, i) => ({ id: p.id, label: i % 3 }));
    const a = await pool.photos(photos, shape, 8);
    const b = await activationsOfPhotos(tfjsRunner(trunk, [64, 64, 3]), cache, photos, 8);
    assertSameValues(a.x, b.x, "photos");
    assert.deepEqual(a.labels, b.labels);

    // ONNX Runtime workers (one thread each, no tfjs in them) against a one-thread session.
    const native = new TrunkPool({
      backend: tf.getBackend() as "wasm",
      onnx: await toOnnx([splitBackbone(backbone).trunk], { planarInput: true }),
      backbone: { name: "mobilenet_v2", alpha: 0.35, size: 64 },
      weights: SHARED_MOBILENET,
      splitStage: backbone.spec.unfreezeFromStage,
      cache: cache.view,
    }, 2);
    const runner = await onnxRunner([splitBackbone(backbone).trunk], { threads: 1 });
    try {
      const c = await native.stream(config, 5, shape);
      const d = await activationsOfStream(runner, inlineStream(config), 5);
      assert.deepEqual(c.labels, single.labels);
      assertSameValues(c.x, d.x, "ONNX Runtime workers");
      const scale = Math.max(...single.x.map(Math.abs));
      const off = Math.max(...c.x.map((v, i) => Math.abs(v - single.x[i])));
      assert.ok(off < 1e-5 * scale, `ONNX Runtime vs tfjs: ${off} of ${scale}`);
      const e = await native.photos(photos, shape, 8);
      assertSameValues(e.x, (await activationsOfPhotos(runner, cache, photos, 8)).x, "photos");
    } finally {
      await native.close();
      await runner.dispose();
    }
  } finally {
    await pool.close();
    cache.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("trunk pool: a deeper cut (--unfreeze-from block_14) is cut there in the workers too", async () => {
  const { dir, cache, config } = await colourStream();
  const options = { alpha: 0.35, size: 64, unfreezeFrom: "block_14" };
  const backbone = buildBackbone("mobilenet_v2", options);
  await loadPretrained(backbone, SHARED_MOBILENET);
  const trunk = foldModel(splitBackbone(backbone).trunk);
  const pool = new TrunkPool({
    backend: tf.getBackend() as "wasm",
    backbone: { name: "mobilenet_v2", ...options },
    weights: SHARED_MOBILENET,
    splitStage: backbone.spec.unfreezeFromStage,
    cache: cache.view,
  }, 2);
  try {
    const parallel = await pool.stream(config, 2, trunk.outputShape);
    const single = await activationsOfStream(
      tfjsRunner(trunk, [64, 64, 3]),
      inlineStream(config),
      2,
    );
    assertSameValues(parallel.x, single.x, "two workers from block_14");
    // The two cuts' maps have one shape (block_14 keeps block_13's 2x2x56): only the values
    // tell a worker that cut at the backbone's default block_15.
    const seedCut = foldModel(splitBackbone(backbone, "block_15").trunk);
    const atSeedCut = await activationsOfStream(
      tfjsRunner(seedCut, [64, 64, 3]),
      inlineStream(config),
      2,
    );
    assert.deepEqual(seedCut.outputShape, trunk.outputShape);
    assert.ok(atSeedCut.x.some((v, i) => Math.abs(v - single.x[i]) > 1e-3), "the cuts differ");
  } finally {
    await pool.close();
    cache.close();
  }
  await Deno.remove(dir, { recursive: true });
});
