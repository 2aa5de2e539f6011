/**
 * The one-pass renderer against the op-by-op chain: for every policy, drawn plans and chosen edge
 * cases (a zoom of exactly 1, the largest rotation, a flipped paste, each quadrant), the batch
 * floats are identical, interleaved and planar, on square photos of even and odd sides.
 */
import assert from "node:assert/strict";
import { scaleInto } from "@/augment/batch.ts";
import { applyPlan, type AugmentPlan, drawPlan, type PhotoSource } from "@/augment/plan.ts";
import { POLICIES } from "@/augment/policy.ts";
import { renderPlan } from "@/augment/warp.ts";
import { Rng } from "@/rng.ts";

function noisePhotos(size: number, ids: string[], seed: number): PhotoSource {
  const rng = new Rng(seed);
  const photos = new Map(ids.map((id) => {
    const data = new Uint8Array(size * size * 3);
    for (let i = 0; i < data.length; i++) data[i] = rng.int(256);
    return [id, { width: size, height: size, data }];
  }));
  // Copies into `into` like the cache does, so a renderer that reads a buffer after reusing it
  // for another photo would fail here.
  return {
    size,
    read: (id, into) => {
      const photo = photos.get(id)!;
      if (!into) return { ...photo, data: photo.data.slice() };
      into.set(photo.data);
      return { ...photo, data: into };
    },
    backgroundIds: ids.slice(2),
  };
}

function assertSame(plan: AugmentPlan, source: PhotoSource): void {
  const frame = source.size * source.size * 3;
  for (const planar of [false, true]) {
    const expected = new Float32Array(frame + 6).fill(7);
    scaleInto(applyPlan(plan, source).data, expected, 3, planar);
    const actual = new Float32Array(frame + 6).fill(7);
    renderPlan(plan, source, { out: actual, offset: 3, planar });
    const at = actual.findIndex((v, i) => v !== expected[i]);
    assert.equal(at, -1, `${JSON.stringify(plan)} planar=${planar}: first difference at ${at}`);
  }
}

for (const size of [224, 31]) {
  Deno.test(`warp: drawn plans render as the op-by-op chain does (${size} px)`, () => {
    const source = noisePhotos(size, ["a", "b", "bg1", "bg2"], size);
    const rng = new Rng(`warp-test:${size}`);
    for (const policy of Object.values(POLICIES)) {
      for (let n = 0; n < 40; n++) {
        const ids = n % 2 ? ["a", "b"] as const : ["b"] as const;
        assertSame(drawPlan({ label: 0, ids }, policy, rng, size, source.backgroundIds), source);
      }
    }
  });

  Deno.test(`warp: edge plans render as the op-by-op chain does (${size} px)`, () => {
    const source = noisePhotos(size, ["a", "b", "bg1"], size + 1);
    const slack = (ratio: number) => Math.abs(Math.floor(size * ratio) - size);
    const plans: AugmentPlan[] = [
      { kind: "warp", id: "a", flip: false },
      { kind: "warp", id: "a", flip: true, degrees: 10, zoom: { ratio: 1, left: 0, top: 0 } },
      { kind: "warp", id: "a", flip: false, degrees: -10 },
      {
        kind: "warp",
        id: "a",
        flip: true,
        zoom: { ratio: 0.8, left: slack(0.8), top: 0, background: "bg1" },
        quadrant: 3,
      },
      {
        kind: "warp",
        id: "a",
        flip: true,
        degrees: 7.3,
        zoom: { ratio: 1.2, left: slack(1.2), top: slack(1.2) },
        quadrant: 0,
      },
      {
        kind: "warp",
        id: "a",
        flip: false,
        zoom: { ratio: 0.85, left: 1, top: 2, background: "a" },
      },
      { kind: "warp", id: "a", flip: false, quadrant: 1 },
      { kind: "warp", id: "a", flip: true, quadrant: 2 },
      { kind: "splice", ids: ["a", "b"], cut: "antidiagonal", at: 5 },
      { kind: "splice", ids: ["b", "a"], cut: "horizontal", at: size >> 1 },
    ];
    for (const plan of plans) assertSame(plan, source);
  });
}
