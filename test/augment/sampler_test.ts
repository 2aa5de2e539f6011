import assert from "node:assert/strict";
import { BatchSampler } from "@/augment/sampler.ts";

const classes = (sizes: number[]) =>
  sizes.map((n, c) => Array.from({ length: n }, (_, i) => `c${c}_${i}`));

Deno.test("sampler: batch/2 distinct classes, 2 samples each, labels match ids", () => {
  const sampler = new BatchSampler(classes(Array.from({ length: 40 }, (_, c) => 5 + c)), {
    seed: 1,
  });
  for (let k = 0; k < 50; k++) {
    const batch = sampler.batch(k);
    assert.equal(batch.length, 32);
    const labels = batch.map((s) => s.label);
    assert.equal(new Set(labels).size, 16);
    for (const l of new Set(labels)) assert.equal(labels.filter((x) => x === l).length, 2);
    for (const s of batch) for (const id of s.ids) assert.ok(id.startsWith(`c${s.label}_`));
    assert.ok(batch.every((s) => s.ids.length === 1), "no pairs without a splicing policy");
  }
});

Deno.test("sampler: class frequencies over many batches follow class sizes (chi-square bound)", () => {
  // Many classes, so drawing 16 without replacement stays close to proportional.
  const sizes = Array.from({ length: 100 }, (_, c) => 20 + (c % 10) * 20);
  const sampler = new BatchSampler(classes(sizes), { seed: 3, batchSize: 2 });
  const counts = new Array(100).fill(0);
  const n = 60_000;
  for (let k = 0; k < n; k++) counts[sampler.batch(k)[0].label]++;
  const total = sizes.reduce((a, b) => a + b, 0);
  let chi2 = 0;
  for (let c = 0; c < 100; c++) {
    const expected = (n * sizes[c]) / total;
    chi2 += (counts[c] - expected) ** 2 / expected;
  }
  // 99 degrees of freedom: the 99.9% quantile is ~148.
  assert.ok(chi2 < 148, `chi2 ${chi2.toFixed(1)}`);
});

Deno.test("sampler: with splicing about half the samples are same-class pairs", () => {
  const sampler = new BatchSampler(classes(Array.from({ length: 20 }, () => 30)), {
    seed: 2,
    pairs: true,
  });
  let pairs = 0;
  let total = 0;
  for (let k = 0; k < 200; k++) {
    for (const s of sampler.batch(k)) {
      total++;
      if (s.ids.length === 2) {
        pairs++;
        assert.ok(s.ids.every((id) => id.startsWith(`c${s.label}_`)), "pair from one class");
      }
    }
  }
  assert.ok(Math.abs(pairs / total - 0.5) < 0.03, `pair share ${pairs / total}`);
  for (const pool of sampler.pools) assert.equal(pool.length, 60);
});

Deno.test("sampler: fewer classes than slots (ImageWoof's 10) still fills the batch, classes repeat evenly", () => {
  const sampler = new BatchSampler(classes(Array.from({ length: 10 }, () => 50)), { seed: 4 });
  const batch = sampler.batch(0);
  assert.equal(batch.length, 32);
  const labels = new Set(batch.map((s) => s.label));
  assert.equal(labels.size, 10, "every class appears before any repeats");
  // 16 slots of 2 over 10 classes: all 10 once, then 6 of them again (never a third time).
  for (let k = 0; k < 50; k++) {
    const counts = new Map<number, number>();
    for (const s of sampler.batch(k)) counts.set(s.label, (counts.get(s.label) ?? 0) + 1);
    const perClass = [...counts.values()].sort();
    assert.deepEqual(perClass, [2, 2, 2, 2, 4, 4, 4, 4, 4, 4], `batch ${k}: ${perClass}`);
  }
});

Deno.test("sampler: the weighted draw without replacement has the hand-computed inclusion probabilities", () => {
  // Weights 1:2:3, two classes drawn per batch (batch of 4 = 2 classes x 2 photos). By hand:
  // P(class 0 drawn) = 1/6 + (2/6)(1/4) + (3/6)(1/3) = 5/12, P(1) = 11/15, P(2) = 17/20.
  const sampler = new BatchSampler(classes([10, 20, 30]), { seed: 5, batchSize: 4 });
  const drawn = [0, 0, 0];
  const n = 60_000;
  for (let k = 0; k < n; k++) {
    for (const c of new Set(sampler.batch(k).map((s) => s.label))) drawn[c]++;
  }
  const want = [5 / 12, 11 / 15, 17 / 20];
  drawn.forEach((d, c) => assert.ok(Math.abs(d / n - want[c]) < 0.01, `class ${c}: ${d / n}`));
});

Deno.test("sampler: batch k is a pure function of (seed, k)", () => {
  const data = classes([10, 20, 30, 40]);
  const a = new BatchSampler(data, { seed: 7, batchSize: 8, pairs: true });
  const b = new BatchSampler(data, { seed: 7, batchSize: 8, pairs: true });
  assert.deepEqual(a.batch(5), b.batch(5));
  assert.deepEqual([a.batch(0), a.batch(1)], [b.batch(0), b.batch(1)]);
  assert.notDeepEqual(a.batch(5), a.batch(6));
  assert.notDeepEqual(new BatchSampler(data, { seed: 8, batchSize: 8 }).batch(5), a.batch(5));
});

Deno.test("sampler: plain batches draw photos uniformly, not breeds in pairs", () => {
  const sizes = [100, 100, 100, 100, 10];
  const plain = new BatchSampler(classes(sizes), { seed: 5, plain: true });
  const counts = new Array(sizes.length).fill(0);
  let odd = 0;
  for (let k = 0; k < 200; k++) {
    const batch = plain.batch(k);
    assert.equal(batch.length, 32);
    assert.equal(new Set(batch.map((s) => s.ids[0])).size, 32, "distinct photos in a batch");
    const perClass = new Array(sizes.length).fill(0);
    for (const s of batch) perClass[s.label]++;
    perClass.forEach((n, c) => (counts[c] += n));
    odd += perClass.filter((n) => n % 2 === 1).length;
  }
  // The seed's sampler gives every class an even count; a uniform draw often does not.
  assert.ok(odd > 100, `odd class counts: ${odd}`);
  // The small class gets about its share of photos (10 of 410), not a breed's share (1 of 5).
  const share = counts[4] / (200 * 32);
  assert.ok(share > 0.012 && share < 0.04, `small class share ${share}`);
});
