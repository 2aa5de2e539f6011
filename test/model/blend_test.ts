import assert from "node:assert/strict";
import { accuracy, blend, searchBlend } from "@/model/blend.ts";

Deno.test("blend search: finds the alpha where the heads' mistakes cancel, first maximum on ties", () => {
  // 3 samples, 2 classes. main is right on 0 and 1, aux on 1 and 2; sample 2 is only saved by a
  // blend that leans on aux enough, sample 0 by one that leans on main enough.
  const main = Float32Array.from([0.6, 0.4, 0.2, 0.8, 0.55, 0.45]);
  const aux = Float32Array.from([0.45, 0.55, 0.3, 0.7, 0.1, 0.9]);
  const labels = Int32Array.from([0, 1, 1]);
  assert.equal(accuracy(main, labels, 2), 2 / 3);
  assert.equal(accuracy(aux, labels, 2), 2 / 3);
  const result = searchBlend(main, aux, labels, 2);
  assert.equal(result.curve.length, 101);
  assert.equal(result.accuracy, 1);
  // Sample 0 needs 0.6a + 0.45(1-a) > 0.4a + 0.55(1-a)  <=> a > 1/3;
  // sample 2 needs 0.55a + 0.1(1-a) < 0.45a + 0.9(1-a)  <=> a < 8/9. First grid point: 0.34.
  assert.equal(result.alpha, 0.34);
  assert.deepEqual(Array.from(blend(main, aux, 1)), Array.from(main));
});

Deno.test("blend search: all ties keep alpha 0 (the seed's first maximum)", () => {
  const p = Float32Array.from([1, 0, 0, 1]);
  const result = searchBlend(p, p, Int32Array.from([0, 1]), 2);
  assert.equal(result.alpha, 0);
  assert.equal(result.accuracy, 1);
});
