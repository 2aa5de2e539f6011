import assert from "node:assert/strict";
import { LabelMap } from "@/data/labels.ts";
import { classFrequencies, heldOutCount, splitPerClass } from "@/data/split.ts";
import { Rng } from "@/rng.ts";

Deno.test("heldOutCount: floor of the fraction, always one training photo left", () => {
  assert.equal(heldOutCount(100, 0.1), 10);
  assert.equal(heldOutCount(19, 0.1), 1);
  assert.equal(heldOutCount(9, 0.1), 0);
  assert.equal(heldOutCount(1, 0.5), 0);
  assert.equal(heldOutCount(2, 0.9), 1);
  assert.throws(() => heldOutCount(5, 1), RangeError);
});

function items(counts: Record<string, number>) {
  return Object.entries(counts).flatMap(([label, n]) =>
    Array.from({ length: n }, (_, i) => ({ id: `${label}-${i}`, label }))
  );
}

Deno.test("splitPerClass: hand-worked per-class counts, disjoint and complete", () => {
  const all = items({ "7": 20, "3": 10, "5": 1 });
  const labels = LabelMap.fromLabels(all.map((i) => i.label));
  const split = splitPerClass(all, labels, { fraction: 0.1, rng: new Rng(1) });
  assert.deepEqual(split.perClass, [
    { label: "3", index: 0, kept: 9, heldOut: 1 },
    { label: "5", index: 1, kept: 1, heldOut: 0 },
    { label: "7", index: 2, kept: 18, heldOut: 2 },
  ]);
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
