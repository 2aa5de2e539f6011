/**
 * Predictions with flip test-time augmentation, on both engines: the average of the photo's and
 * its mirror image's probabilities (the mirror made here by hand), and not the photo's alone.
 */
import assert from "node:assert/strict";
import { initBackend } from "@/engine/tf.ts";
import { buildBackbone, loadPretrained } from "@/model/index.ts";
import { buildSeedModel } from "@/model/seed_model.ts";
import { predictPhotos } from "@/predict/predict.ts";
import type { ImageCache } from "@/data/cache.ts";
import { Rng } from "@/rng.ts";
import { SHARED_MOBILENET } from "../fixtures.ts";

await initBackend({ quiet: true });

const SIZE = 64;

/** An in-memory stand-in for the decoded-photo cache: what predictPhotos reads of it. */
function cacheOf(frames: Map<string, Uint8Array>): ImageCache {
  return {
    size: SIZE,
    frameBytes: SIZE * SIZE * 3,
    read: (id: string, into?: Uint8Array) => {
      const data = into ?? new Uint8Array(SIZE * SIZE * 3);
      data.set(frames.get(id)!);
      return { width: SIZE, height: SIZE, data };
    },
  } as unknown as ImageCache;
}

/** Left and right swapped, pixel by pixel. */
function mirror(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame.length);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      out.set(
        frame.subarray((y * SIZE + x) * 3, (y * SIZE + x) * 3 + 3),
        (y * SIZE + SIZE - 1 - x) * 3,
      );
    }
  }
  return out;
}

for (const engine of ["onnxruntime", "tfjs"] as const) {
  Deno.test(`predict with flip (${engine}): the mean of the photo's and its mirror's, not the photo's`, async () => {
    const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: SIZE });
    await loadPretrained(backbone, SHARED_MOBILENET);
    const model = buildSeedModel(backbone, { classes: 4, seed: 2 });
    const rng = new Rng("flip");
    // Photos brighter on one side than the other: their mirrors look different to a network.
    const ids = ["p0", "p1", "p2"];
    const frames = new Map(ids.map((id) => [
      id,
      Uint8Array.from(
        { length: SIZE * SIZE * 3 },
        (_, i) => Math.floor(((i / 3) % SIZE) * 3 + rng.next() * 60),
      ),
    ]));
    const mirrors = new Map([...frames].map(([id, f]) => [id, mirror(f)]));
    const plain = await predictPhotos(model, cacheOf(frames), ids, { engine });
    const flipped = await predictPhotos(model, cacheOf(mirrors), ids, { engine });
    const tta = await predictPhotos(model, cacheOf(frames), ids, { engine, flip: true });
    for (const head of ["main", "aux"] as const) {
      const mean = plain[head].map((v, i) => (v + flipped[head][i]) / 2);
      const off = Math.max(...tta[head].map((v, i) => Math.abs(v - mean[i])));
      assert.ok(off < 1e-5, `${head}: off the mean by ${off}`);
      const moved = Math.max(...tta[head].map((v, i) => Math.abs(v - plain[head][i])));
      assert.ok(moved > 1e-4, `${head}: the flip changed the probabilities (by ${moved})`);
    }
  });
}
