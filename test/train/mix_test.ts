import * as assert from "node:assert/strict";
import { tf } from "@/engine/tf.ts";
import { betaSample, mixArrays, mixPlan, mixTensor, softTargets } from "@/train/mix.ts";
import { Rng } from "@/rng.ts";

Deno.test("mix: Beta(a, a) draws have the mean 1/2 and variance 1 / (4 (2a + 1))", () => {
  for (const a of [0.2, 1, 4]) {
    const rng = new Rng(`beta${a}`);
    const xs = Array.from({ length: 20000 }, () => betaSample(rng, a));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
    assert.ok(xs.every((x) => x >= 0 && x <= 1));
    assert.ok(Math.abs(mean - 0.5) < 0.01, `a=${a}: mean ${mean}`);
    const expected = 1 / (4 * (2 * a + 1));
    assert.ok(Math.abs(variance - expected) < 0.06 * expected, `a=${a}: variance ${variance}`);
  }
});

Deno.test("mix: a batch's plan is a function of (seed, k); off, or CutMix without a grid, is none", () => {
  const on = { mixup: 0.4 };
  assert.deepEqual(mixPlan(on, 3, 7, 8), mixPlan(on, 3, 7, 8));
  assert.notDeepEqual(mixPlan(on, 3, 7, 8), mixPlan(on, 3, 8, 8));
  assert.notDeepEqual(mixPlan(on, 3, 7, 8), mixPlan(on, 4, 7, 8));
  assert.equal(mixPlan(undefined, 0, 0, 8), undefined);
  assert.equal(mixPlan({ labelSmoothing: 0.1 }, 0, 0, 8), undefined);
  assert.equal(mixPlan({ cutmix: 1 }, 0, 0, 8), undefined, "pooled features: no box to cut");
  const plan = mixPlan(on, 0, 0, 8)!;
  assert.deepEqual([...plan.partner].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  // CutMix's weight is the area it keeps.
  for (let k = 0; k < 20; k++) {
    const cut = mixPlan({ cutmix: 1 }, 0, k, 4, [7, 7])!;
    const { height, width, top, left } = cut.box!;
    assert.ok(top >= 0 && left >= 0 && top + height <= 7 && left + width <= 7);
    assert.equal(cut.lambda, 1 - height * width / 49);
  }
  // Both on: each batch picks one, about half each.
  const boxes = Array.from(
    { length: 200 },
    (_, k) => mixPlan({ mixup: 1, cutmix: 1 }, 0, k, 4, [7, 7])!.box,
  );
  const cut = boxes.filter(Boolean).length;
  assert.ok(cut > 70 && cut < 130, `${cut} of 200 batches cut`);
});

Deno.test("mix: the arrays the native step feeds are the tensors tfjs' step makes", () => {
  const rng = new Rng("x");
  const shape = [4, 5, 6, 3];
  const x = Float32Array.from({ length: 4 * 5 * 6 * 3 }, () => rng.uniform(-1, 1));
  for (const plan of [mixPlan({ mixup: 1 }, 1, 2, 4)!, mixPlan({ cutmix: 1 }, 1, 2, 4, [5, 6])!]) {
    const arrays = mixArrays(x, shape, plan);
    const tensor = tf.tidy(() => mixTensor(tf.tensor(x, shape), plan).dataSync());
    assert.ok(arrays.every((v, i) => Math.abs(v - tensor[i]) < 1e-6));
    assert.notDeepEqual(arrays, x);
  }
  // A box pastes the partner's cells and keeps the rest.
  const plan = mixPlan({ cutmix: 1 }, 1, 2, 4, [5, 6])!;
  const mixed = mixArrays(x, shape, plan);
  const at = (a: Float32Array, n: number, r: number, c: number) => a[((n * 5 + r) * 6 + c) * 3];
  const { top, left, height, width } = plan.box!;
  for (let r = 0; r < 5; r++) {
    for (let c = 0; c < 6; c++) {
      const inside = r >= top && r < top + height && c >= left && c < left + width;
      assert.equal(at(mixed, 0, r, c), at(x, inside ? plan.partner[0] : 0, r, c));
    }
  }
});

Deno.test("mix: soft targets: one-hot, smoothed, mixed; centers never smoothed", () => {
  const labels = Int32Array.from([0, 2]);
  const plain = softTargets(labels, 3);
  assert.deepEqual([...plain.classes], [1, 0, 0, 0, 0, 1]);
  assert.deepEqual(plain.centres, plain.classes);
  const smooth = softTargets(labels, 3, 0.3);
  assert.deepEqual([...smooth.classes].map((v) => +v.toFixed(4)), [0.8, 0.1, 0.1, 0.1, 0.1, 0.8]);
  assert.deepEqual([...smooth.centres], [1, 0, 0, 0, 0, 1]);
  const plan = { lambda: 0.75, partner: Int32Array.from([1, 0]) };
  const mixed = softTargets(labels, 3, 0, plan);
  assert.deepEqual([...mixed.classes], [0.75, 0, 0.25, 0.25, 0, 0.75]);
  assert.deepEqual(mixed.centres, mixed.classes);
  for (const t of [smooth, mixed]) {
    for (let i = 0; i < 2; i++) {
      assert.ok(Math.abs(t.classes.subarray(3 * i, 3 * i + 3).reduce((a, b) => a + b) - 1) < 1e-6);
    }
  }
});
