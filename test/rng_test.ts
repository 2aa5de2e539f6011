import assert from "node:assert/strict";
import { Rng } from "@/rng.ts";

Deno.test("Rng: same seed same stream; state round-trips mid-stream", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  for (let i = 0; i < 5; i++) assert.equal(a.uint32(), b.uint32());
  const resumed = new Rng(a.state());
  for (let i = 0; i < 100; i++) assert.equal(a.next(), resumed.next());
  assert.notEqual(new Rng(1).uint32(), new Rng(2).uint32());
});

Deno.test("Rng: int is uniform enough and within range", () => {
  const rng = new Rng("uniform");
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 100_000; i++) counts[rng.int(10)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400, `bucket ${c}`);
  assert.throws(() => rng.int(0), RangeError);
});

Deno.test("Rng: shuffle is a permutation; fork streams are independent of later parent draws", () => {
  const rng = new Rng(3);
  const shuffled = rng.shuffle([...Array(50).keys()]);
  assert.deepEqual([...shuffled].sort((a, b) => a - b), [...Array(50).keys()]);
  assert.notDeepEqual(shuffled, [...Array(50).keys()]);
  const f1 = new Rng(9).fork("split").uint32();
  const f2 = new Rng(9).fork("split").uint32();
  assert.equal(f1, f2);
  assert.notEqual(new Rng(9).fork("augment").uint32(), f1);
});
