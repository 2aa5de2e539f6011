import assert from "node:assert/strict";
import {
  flipHorizontal,
  maskQuadrant,
  paste,
  randomQuarterMask,
  randomSplice,
  resize,
  type RgbImage,
  rotate,
  splice,
  spliceMask,
  zoom,
} from "@/augment/ops.ts";
import { Rng } from "@/rng.ts";

/** w x h image whose pixel (x, y) is [x, y, tag]: every pixel says where it came from. */
function coords(w: number, h: number, tag = 0): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([x, y, tag], (y * w + x) * 3);
  return { width: w, height: h, data };
}
const at = (img: RgbImage, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

Deno.test("flip: pixel (x, y) comes from (w-1-x, y); input untouched", () => {
  const img = coords(8, 8);
  const copy = img.data.slice();
  const out = flipHorizontal(img);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) assert.deepEqual(at(out, x, y), [7 - x, y, 0]);
  }
  assert.deepEqual(img.data, copy);
});

Deno.test("splice masks: exactly numpy's tril and rot90(tril) for 4x4; rows/cols at the cut", () => {
  const rows = (m: Uint8Array, n: number) =>
    Array.from({ length: n }, (_, y) => Array.from(m.subarray(y * n, y * n + n)));
  assert.deepEqual(rows(spliceMask(4, "diagonal"), 4), [
    [1, 0, 0, 0],
    [1, 1, 0, 0],
    [1, 1, 1, 0],
    [1, 1, 1, 1],
  ]);
  // np.rot90(np.tril(np.ones((4,4)))) turns the lower triangle counter-clockwise.
  assert.deepEqual(rows(spliceMask(4, "antidiagonal"), 4), [
    [0, 0, 0, 1],
    [0, 0, 1, 1],
    [0, 1, 1, 1],
    [1, 1, 1, 1],
  ]);
  assert.deepEqual(rows(spliceMask(4, "horizontal", 1), 4), [
    [1, 1, 1, 1],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ]);
  assert.deepEqual(rows(spliceMask(4, "vertical", 3), 4), [
    [1, 1, 1, 0],
    [1, 1, 1, 0],
    [1, 1, 1, 0],
    [1, 1, 1, 0],
  ]);
});

Deno.test("splice: pixels come from a where the mask is 1, from b elsewhere", () => {
  const a = coords(8, 8, 1);
  const b = coords(8, 8, 2);
  const out = splice(a, b, "diagonal");
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) assert.deepEqual(at(out, x, y), [x, y, y >= x ? 1 : 2]);
  }
  assert.throws(() => splice(a, coords(4, 4), "vertical"), RangeError);
});

Deno.test("randomSplice: all four cuts occur about equally; cut points in [size/4, 3*size/4)", () => {
  const size = 16;
  const a = coords(size, size, 1);
  const b = coords(size, size, 2);
  const rng = new Rng(5);
  const kinds = new Map<string, number>();
  for (let i = 0; i < 4000; i++) {
    const out = randomSplice(a, b, rng);
    const tag = (x: number, y: number) => at(out, x, y)[2];
    let kind: string;
    const last = size - 1;
    if (tag(0, last) === 1 && tag(last, 0) === 2 && tag(last, last) === 1) kind = "diagonal";
    else if (tag(0, 0) === 2) kind = "antidiagonal";
    else if (tag(size - 1, 0) === 1) {
      kind = "horizontal";
      const cut = Array.from({ length: size }, (_, y) => tag(0, y)).indexOf(2);
      assert.ok(cut >= 4 && cut < 12, `row cut ${cut}`);
    } else {
      kind = "vertical";
      const cut = Array.from({ length: size }, (_, x) => tag(x, 0)).indexOf(2);
      assert.ok(cut >= 4 && cut < 12, `column cut ${cut}`);
    }
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  assert.equal(kinds.size, 4);
  for (const [kind, n] of kinds) assert.ok(Math.abs(n - 1000) < 120, `${kind}: ${n}`);
});

Deno.test("quarter masks: exactly one quadrant zeroed; random version hits each with p/4", () => {
  const img = coords(8, 8, 9);
  const zeroed = (out: RgbImage) =>
    [[0, 0], [4, 0], [0, 4], [4, 4]].map(([x0, y0]) => {
      for (let y = y0; y < y0 + 4; y++) {
        for (let x = x0; x < x0 + 4; x++) if (at(out, x, y)[2] !== 0) return false;
      }
      return true;
    });
  for (const q of [0, 1, 2, 3] as const) {
    assert.deepEqual(zeroed(maskQuadrant(img, q)), [0, 1, 2, 3].map((i) => i === q));
  }
  const rng = new Rng(11);
  const counts = [0, 0, 0, 0, 0];
  for (let i = 0; i < 8000; i++) {
    const which = zeroed(randomQuarterMask(img, rng)).indexOf(true);
    counts[which === -1 ? 4 : which]++;
  }
  assert.ok(Math.abs(counts[4] - 4000) < 200, `unmasked ${counts[4]}`);
  for (let q = 0; q < 4; q++) {
    assert.ok(Math.abs(counts[q] - 1000) < 110, `quadrant ${q}: ${counts[q]}`);
  }
});

Deno.test("zoom in: resized to int(s*r) then cropped at the offset (coordinates by hand)", () => {
  const img = coords(10, 10);
  const out = zoom(img, 1.2, 2, 1, coords(10, 10, 7));
  assert.equal(out.width, 10);
  // 10 -> 12 px, nearest: target t samples source floor((t + 0.5) * 10 / 12); the crop starts at
  // (2, 1), so output x reads t = x + 2 and y reads t = y + 1. Worked out by hand:
  const xs = [2, 2, 3, 4, 5, 6, 7, 7, 8, 9];
  const ys = [1, 2, 2, 3, 4, 5, 6, 7, 7, 8];
  for (let y = 0; y < 10; y++) {
    for (let x = 0; x < 10; x++) assert.deepEqual(at(out, x, y), [xs[x], ys[y], 0], `(${x},${y})`);
  }
});

Deno.test("zoom out: the shrunk photo sits at the offset on the background photo", () => {
  const img = coords(10, 10, 1);
  const background = coords(10, 10, 5);
  const out = zoom(img, 0.8, 1, 2, background);
  for (let y = 0; y < 10; y++) {
    for (let x = 0; x < 10; x++) {
      const inside = x >= 1 && x < 9 && y >= 2 && y < 10;
      assert.equal(at(out, x, y)[2], inside ? 1 : 5, `(${x},${y})`);
    }
  }
  assert.deepEqual(out.data, paste(background, resize(img, 8, 8), 1, 2).data);
});

Deno.test("resize nearest: 4x4 -> 2x2 picks pixel centres; 2x2 -> 4x4 repeats", () => {
  const img = coords(4, 4);
  const small = resize(img, 2, 2);
  assert.deepEqual([at(small, 0, 0), at(small, 1, 1)], [[1, 1, 0], [3, 3, 0]]);
  const big = resize(coords(2, 2), 4, 4);
  assert.deepEqual([at(big, 1, 1), at(big, 2, 1), at(big, 3, 3)], [[0, 0, 0], [1, 0, 0], [
    1,
    1,
    0,
  ]]);
});

Deno.test("rotate: keeps size and the centre pixel; 90 degrees is an exact turn; corners go black", () => {
  const img = coords(9, 9, 3);
  for (const deg of [-10, 7, 10]) {
    const out = rotate(img, deg);
    assert.equal(out.width, 9);
    assert.equal(out.height, 9);
    assert.deepEqual(at(out, 4, 4), [4, 4, 3]);
  }
  const quarter = rotate(img, 90);
  // Counter-clockwise on screen: the top-right corner moves to the top-left.
  assert.deepEqual(at(quarter, 0, 0), [8, 0, 3]);
  assert.deepEqual(at(quarter, 0, 8), [0, 0, 3]);
  const tilted = rotate(coords(20, 20, 3), 10);
  assert.deepEqual(at(tilted, 0, 0), [0, 0, 0], "a corner filled from outside is black");
});
