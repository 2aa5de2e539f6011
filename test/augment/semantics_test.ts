/**
 * The seed's augmentation, pinned by hand: which operations each stage policy switches on, the
 * order they run in (splice, rotate, zoom, flip, mask), and how each random draw becomes a
 * parameter (rotation -10..10 degrees, zoom 0.8..1.2 with a random training photo as background
 * when zooming out, flip with p = 0.5, one quarter masked with p = 0.5 in total). A scripted
 * generator hands out chosen draws; the expected image is built from the plain operations.
 */
import assert from "node:assert/strict";
import { augmentSample, type PhotoSource } from "@/augment/batch.ts";
import {
  flipHorizontal,
  maskQuadrant,
  type RgbImage,
  rotate,
  splice,
  zoom,
} from "@/augment/ops.ts";
import { POLICIES } from "@/augment/policy.ts";
import { Rng } from "@/rng.ts";

/** An Rng whose next() values are given in order (int, uniform, pick, bernoulli all use next). */
class ScriptedRng extends Rng {
  constructor(private readonly script: number[]) {
    super(0);
  }
  override next(): number {
    if (!this.script.length) throw new Error("more draws than scripted");
    return this.script.shift()!;
  }
  get left(): number {
    return this.script.length;
  }
}

/** 16x16 photos whose pixels say which photo and where: [x * 16 + tag, y * 16, tag]. */
function photo(tag: number): RgbImage {
  const data = new Uint8Array(16 * 16 * 3);
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) data.set([x * 15 + tag, y * 15, tag * 40], (y * 16 + x) * 3);
  }
  return { width: 16, height: 16, data };
}
const photos = new Map(["a", "b", "bg"].map((id, i) => [id, photo(i + 1)]));
const source: PhotoSource = { size: 16, read: (id) => photos.get(id)!, backgroundIds: ["bg"] };

Deno.test("policies: Train_DA (and Transfer_DA) all five; Train (and Transfer) zoom and flip only", () => {
  const switches = (name: keyof typeof POLICIES) => {
    const { splice, rotate, zoom, flip, mask, pseudoLabels } = POLICIES[name];
    return { splice, rotate, zoom, flip, mask, pseudoLabels };
  };
  const full = { splice: true, rotate: true, zoom: true, flip: true, mask: true };
  const reduced = { splice: false, rotate: false, zoom: true, flip: true, mask: false };
  assert.deepEqual(switches("Train_DA"), { ...full, pseudoLabels: false });
  assert.deepEqual(switches("Transfer_DA"), { ...full, pseudoLabels: true });
  assert.deepEqual(switches("Train"), { ...reduced, pseudoLabels: false });
  assert.deepEqual(switches("Transfer"), { ...reduced, pseudoLabels: true });
});

Deno.test("Train_DA: a photo is rotated, zoomed out onto a background, flipped, masked, in that order", () => {
  const rng = new ScriptedRng([
    0.75, // rotation: -10 + 20 * 0.75 = 5 degrees
    0.25, // zoom ratio: 0.8 + 0.4 * 0.25 = 0.9 -> int(14.4) = 14 px, zoom out
    0.5, // left: floor(0.5 * 3) = 1 (slack 16 - 14 = 2)
    0.9, // top: floor(0.9 * 3) = 2
    0.0, // background photo: the only one, "bg"
    0.3, // flip: 0.3 < 0.5, flipped
    0.2, // mask: 0.2 < 0.5, quadrant floor(0.2 / 0.125) = 1 (top right)
  ]);
  const out = augmentSample({ label: 0, ids: ["a"] }, source, POLICIES.Train_DA, rng);
  assert.equal(rng.left, 0, "every scripted draw used, no more");
  let want = rotate(photos.get("a")!, 5);
  want = zoom(want, 0.9, 1, 2, photos.get("bg")!);
  want = flipHorizontal(want);
  want = maskQuadrant(want, 1);
  assert.deepEqual(out.data, want.data);
});

Deno.test("Train_DA: a spliced pair is the two photos spliced, and nothing else (the seed's line 181)", () => {
  const rng = new ScriptedRng([
    0.6, // splice cut: SPLICE_CUTS[floor(0.6 * 4)] = "diagonal"
    0.5, // splice point: 4 + floor(0.5 * (12 - 4)) = 8
  ]);
  const out = augmentSample({ label: 0, ids: ["a", "b"] }, source, POLICIES.Train_DA, rng);
  assert.equal(rng.left, 0, "no rotation, zoom, flip or mask drawn");
  assert.deepEqual(out.data, splice(photos.get("a")!, photos.get("b")!, "diagonal", 8).data);
});

Deno.test("Train_DA: zoom in crops (no background drawn); no flip at u >= 0.5; no mask at u >= 0.5", () => {
  const rng = new ScriptedRng([
    0.0, // rotation -10 degrees (the bound)
    1 - 1e-9, // ratio just under 1.2 -> int(19.2) = 19 px, zoom in
    0.99, // left floor(0.99 * 4) = 3
    0.0, // top 0
    0.5, // no flip
    0.5, // no mask
  ]);
  const out = augmentSample({ label: 0, ids: ["a"] }, source, POLICIES.Train_DA, rng);
  assert.equal(rng.left, 0);
  let want = rotate(photos.get("a")!, -10);
  want = zoom(want, 1.2 - 0.4e-9, 3, 0, want);
  assert.deepEqual(out.data, want.data);
});

Deno.test("zoom: the seed's int(size * r): at 0.999 of 16 px it pastes 15 px, not a rounded 16", () => {
  const pasted = zoom(photos.get("a")!, 0.999, 0, 0, photos.get("bg")!);
  const pixel = (img: RgbImage, x: number, y: number) =>
    Array.from(img.data.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3));
  assert.deepEqual(
    pixel(pasted, 15, 15),
    pixel(photos.get("bg")!, 15, 15),
    "background at the edge",
  );
  assert.deepEqual(pixel(pasted, 0, 0), pixel(photos.get("a")!, 0, 0), "the photo at its corner");
});

Deno.test("Train: a spliced pair's first photo only, zoomed and flipped, nothing else drawn", () => {
  const rng = new ScriptedRng([0.5, 0.0, 0.0, 0.0]); // ratio 1.0, left 0, top 0, flip
  const out = augmentSample({ label: 0, ids: ["a", "b"] }, source, POLICIES.Train, rng);
  assert.equal(rng.left, 0, "no splice, rotation or mask draws");
  assert.deepEqual(out.data, flipHorizontal(photos.get("a")!).data);
});
