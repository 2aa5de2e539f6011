import assert from "node:assert/strict";
import { join } from "node:path";
import { cacheImages } from "@/data/cache.ts";
import { inlineStream, poolStream, workerStream } from "@/augment/pipeline.ts";
import { LabelMap } from "@/data/labels.ts";
import { makeImageFolder, tempDir } from "../fixtures.ts";
import { readImageFolder } from "@/data/readers.ts";

async function setup() {
  const dir = await tempDir();
  await makeImageFolder(join(dir, "data"), { a: 6, b: 5, c: 4 });
  const listing = await readImageFolder(join(dir, "data"));
  const cache = await cacheImages(listing.train, { size: 16, dir: join(dir, "cache") });
  const labels = LabelMap.fromLabels(["a", "b", "c"]);
  const config = poolStream(cache, listing.train, labels, {
    policy: "Train_DA",
    seed: 3,
    batchSize: 8,
  });
  cache.close();
  return { dir, config };
}

Deno.test("pipeline: the prefetch worker yields exactly the inline batches, from any start", async () => {
  const { dir, config } = await setup();
  const inline = inlineStream(config, 3);
  const worker = workerStream(config, 3, 2);
  for (let i = 0; i < 4; i++) {
    const [a, b] = [await inline.next(), await worker.next()];
    assert.equal(a.n, 8);
    assert.equal(a.images.length, 8 * 16 * 16 * 3);
    assert.deepEqual(b.labels, a.labels);
    assert.deepEqual(b.images, a.images);
    assert.ok(a.images.every((v) => v >= -1 && v <= 1), "scaled to [-1, 1]");
    assert.ok(a.labels.every((l) => l >= 0 && l < 3));
  }
  inline.close();
  worker.close();
  // A second inline stream from 0 reaches batch 3 with the same content: batches depend on k only.
  const again = inlineStream(config, 0);
  for (let i = 0; i < 3; i++) await again.next();
  const third = await again.next();
  const fresh = inlineStream(config, 3);
  assert.deepEqual((await fresh.next()).images, third.images);
  again.close();
  fresh.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pipeline: a worker error reaches the caller as a rejected batch", async () => {
  const { dir, config } = await setup();
  const broken = { ...config, byClass: [["no-such-photo"]], backgroundIds: ["no-such-photo"] };
  const stream = workerStream(broken, 0, 1);
  await assert.rejects(stream.next(), /no-such-photo' is not in cache/);
  stream.close();
  await Deno.remove(dir, { recursive: true });
});
