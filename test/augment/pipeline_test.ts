import assert from "node:assert/strict";
import { join } from "node:path";
import { cacheImages } from "@/data/cache.ts";
import { batchMaker, inlineStream, poolStream, workerStream } from "@/augment/pipeline.ts";
import { LabelMap } from "@/data/labels.ts";
import { makeImageFolder, tempDir } from "../fixtures.ts";
import { readImageFolder } from "@/data/readers.ts";

/** Three classes of flat-shaded photos, decoded at 16 px. */
async function photos() {
  const dir = await tempDir();
  await makeImageFolder(join(dir, "data"), { a: 6, b: 5, c: 4 });
  const listing = await readImageFolder(join(dir, "data"));
  const cache = await cacheImages(listing.train, { size: 16, dir: join(dir, "cache") });
  const labels = LabelMap.fromLabels(["a", "b", "c"]);
  return { dir, listing, cache, labels };
}

async function setup() {
  const { dir, listing, cache, labels } = await photos();
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
  await assert.rejects(stream.next(), /no-such-photo' is not in this cache/);
  stream.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pipeline: known pixels: each sample's centre is a photo of its own label, scaled x/127.5-1", async () => {
  const { dir, listing, cache, labels } = await photos();
  // Every photo is one flat shade of red: its decoded red value per class, from the cache.
  const reds = [new Set<number>(), new Set<number>(), new Set<number>()];
  for (const p of listing.train) reds[labels.toIndex(p.label)].add(cache.read(p.id).data[0]);
  // Train: zoom (0.8-1.2) and flip only. Zoomed out, the photo still covers the centre pixel.
  const config = poolStream(cache, listing.train, labels, {
    policy: "Train",
    seed: 3,
    batchSize: 8,
  });
  cache.close();
  const stream = inlineStream(config, 0);
  const centre = (8 * 16 + 8) * 3;
  for (let k = 0; k < 4; k++) {
    const batch = await stream.next();
    for (let i = 0; i < batch.n; i++) {
      const [r, g, b] = batch.images.subarray(i * 768 + centre, i * 768 + centre + 3);
      const red = Math.round((r + 1) * 127.5);
      assert.ok(
        reds[batch.labels[i]].has(red),
        `batch ${k} sample ${i}: red ${red} not of its class`,
      );
      assert.ok(Math.abs(g + 1) < 0.02 && Math.abs(b + 1) < 0.02, "green and blue 0 -> -1");
    }
  }
  stream.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pipeline: the ablation switches: Train_DA without splice, rotate and mask is Train", async () => {
  const { dir, listing, cache, labels } = await photos();
  const stream = (policy: "Train_DA" | "Train", without?: Record<string, false>) =>
    inlineStream(
      poolStream(cache, listing.train, labels, { policy, seed: 4, batchSize: 8, without }),
    );
  const ablated = stream("Train_DA", { splice: false, rotate: false, mask: false });
  const train = stream("Train");
  const full = stream("Train_DA");
  for (let k = 0; k < 3; k++) {
    const [a, t, f] = [await ablated.next(), await train.next(), await full.next()];
    assert.deepEqual(a.images, t.images);
    assert.deepEqual(a.labels, t.labels);
    assert.notDeepEqual(f.images, t.images, "the full policy does more");
  }
  for (const s of [ablated, train, full]) s.close();
  cache.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pipeline: Train_DA draws spliced pairs (about half its samples), Train none", async () => {
  const { dir, listing, cache, labels } = await photos();
  const share = (policy: "Train_DA" | "Train") => {
    const maker = batchMaker(
      poolStream(cache, listing.train, labels, { policy, seed: 6, batchSize: 8 }),
    );
    const samples = Array.from({ length: 40 }, (_, k) => maker.samples(k)).flat();
    maker.close();
    assert.ok(samples.every((s) => s.ids.every((id) => listing.train.some((p) => p.id === id))));
    return samples.filter((s) => s.ids.length === 2).length / samples.length;
  };
  const pairs = share("Train_DA");
  assert.ok(pairs > 0.35 && pairs < 0.65, `Train_DA: ${pairs} of the samples are pairs`);
  assert.equal(share("Train"), 0);
  cache.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pipeline: a planar batch is the interleaved one plane by plane, written into a reused buffer", async () => {
  const { dir, config } = await setup();
  const maker = batchMaker(config);
  try {
    const interleaved = maker.make(2);
    const buffer = new Float32Array(interleaved.images.length + 5).fill(9);
    const planar = maker.make(2, { planar: true, into: buffer });
    assert.equal(planar.images.buffer, buffer.buffer, "the given buffer, not a new one");
    assert.equal(planar.images.length, interleaved.images.length);
    const plane = planar.size * planar.size;
    for (let i = 0; i < planar.n; i++) {
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < 3; c++) {
          const want = interleaved.images[(i * plane + p) * 3 + c];
          const got = planar.images[i * 3 * plane + c * plane + p];
          if (got !== want) assert.fail(`photo ${i} pixel ${p} colour ${c}: ${got} vs ${want}`);
        }
      }
    }
    assert.deepEqual(planar.labels, interleaved.labels);
    assert.equal(buffer.at(-1), 9, "nothing written past the batch");
    // Too small a buffer is not written past: a new one is made.
    const small = new Float32Array(4);
    assert.notEqual(maker.make(2, { into: small }).images.buffer, small.buffer);
  } finally {
    maker.close();
  }
  await Deno.remove(dir, { recursive: true });
});
