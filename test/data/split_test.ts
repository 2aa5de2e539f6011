import assert from "node:assert/strict";
import { LabelMap } from "@/data/labels.ts";
import {
  carvedCount,
  classFrequencies,
  foldParts,
  heldOutCount,
  splitPerClass,
} from "@/data/split.ts";
import { Rng } from "@/rng.ts";

Deno.test("heldOutCount: the seed's n - int(0.9 n), always one training photo left", () => {
  // The seed keeps rows [:int(n * 0.9)] of a shuffled class and validates on the rest.
  for (const n of [2, 9, 10, 11, 19, 20, 29, 31, 99, 580, 949]) {
    assert.equal(heldOutCount(n, 0.1), n - Math.floor(n * 0.9), `n = ${n}`);
  }
  assert.equal(heldOutCount(29, 0.1), 3, "not floor(2.9) = 2");
  assert.equal(heldOutCount(949, 0.1), 95);
  assert.equal(heldOutCount(1, 0.1), 0, "a class of one keeps its photo for training");
  assert.equal(heldOutCount(2, 0.9), 1);
  assert.throws(() => heldOutCount(5, 1), RangeError);
  // The carved-off test part is this project's own: a plain floor.
  assert.equal(carvedCount(29, 0.1), 2);
  assert.equal(carvedCount(1, 0.5), 0);
});

function items(counts: Record<string, number>) {
  return Object.entries(counts).flatMap(([label, n]) =>
    Array.from({ length: n }, (_, i) => ({ id: `${label}-${i}`, label }))
  );
}

Deno.test("splitPerClass: hand-worked per-class counts, disjoint and complete", () => {
  // 29 photos: the seed validates on 29 - int(26.1) = 3, where a floor of 2.9 would give 2.
  const all = items({ "7": 20, "3": 10, "5": 1, "8": 29 });
  const labels = LabelMap.fromLabels(all.map((i) => i.label));
  const split = splitPerClass(all, labels, { fraction: 0.1, rng: new Rng(1) });
  assert.deepEqual(split.perClass, [
    { label: "3", index: 0, kept: 9, heldOut: 1 },
    { label: "5", index: 1, kept: 1, heldOut: 0 },
    { label: "7", index: 2, kept: 18, heldOut: 2 },
    { label: "8", index: 3, kept: 26, heldOut: 3 },
  ]);
  for (const [label, n] of [["3", 1], ["7", 2], ["8", 3]] as const) {
    assert.equal(split.heldOut.filter((i) => i.label === label).length, n, label);
  }
  const ids = [...split.kept, ...split.heldOut].map((i) => i.id).sort();
  assert.deepEqual(ids, all.map((i) => i.id).sort());
  assert.equal(new Set(ids).size, all.length);
});

Deno.test("splitPerClass: same seed same split, other seed other split", () => {
  const all = items({ a: 50, b: 50 });
  const labels = LabelMap.fromLabels(all.map((i) => i.label));
  const ids = (seed: number) =>
    splitPerClass(all, labels, { fraction: 0.2, rng: new Rng(seed) }).heldOut.map((i) => i.id);
  assert.deepEqual(ids(7), ids(7));
  assert.notDeepEqual(ids(7), ids(8));
});

Deno.test("classFrequencies: proportional to class sizes", () => {
  const all = items({ a: 1, b: 3 });
  const labels = LabelMap.fromLabels(all.map((i) => i.label));
  assert.deepEqual(classFrequencies(all, labels), [0.25, 0.75]);
});

Deno.test("foldParts: every photo in one fold, folds even per class and overall, seeded", () => {
  const all = items({ "7": 20, "3": 10, "5": 1, "8": 29, "2": 3 });
  const labels = LabelMap.fromLabels(all.map((i) => i.label));
  const { parts, always } = foldParts(all, labels, { count: 4, rng: new Rng("f") });
  assert.deepEqual(always.map((p) => p.id), ["5-0"], "a class of one trains in every fold");
  const ids = parts.flat().map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, "no photo in two folds");
  assert.deepEqual([...ids, "5-0"].sort(), all.map((p) => p.id).sort(), "none left out");
  const sizes = parts.map((p) => p.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `overall ${sizes}`);
  for (const label of ["7", "3", "8", "2"]) {
    const per = parts.map((p) => p.filter((x) => x.label === label).length);
    assert.ok(Math.max(...per) - Math.min(...per) <= 1, `class ${label}: ${per}`);
  }
  const again = foldParts(all, labels, { count: 4, rng: new Rng("f") }).parts;
  assert.deepEqual(again, parts, "same seed, same folds");
  const other = foldParts(all, labels, { count: 4, rng: new Rng("g") }).parts;
  assert.notDeepEqual(other, parts, "another seed, other folds");
  assert.throws(() => foldParts(all, labels, { count: 1, rng: new Rng("f") }), RangeError);
});
