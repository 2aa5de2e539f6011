import assert from "node:assert/strict";
import { LabelMap } from "@/data/labels.ts";

Deno.test("LabelMap: sparse numeric ids map to 0..C-1 in numeric order and back", () => {
  // The Baidu set's ids have gaps (e.g. no 2, up to 133); "10" must not sort before "9".
  const map = LabelMap.fromLabels(["133", "9", "0", "10", "9", "1"]);
  assert.deepEqual(map.labels, ["0", "1", "9", "10", "133"]);
  assert.equal(map.toIndex("10"), 3);
  assert.equal(map.toLabel(4), "133");
  for (const l of map.labels) assert.equal(map.toLabel(map.toIndex(l)), l);
});

Deno.test("LabelMap: text labels sort as text; unknown label names its source", () => {
  const map = LabelMap.fromLabels(["n02115641", "n02086240"]);
  assert.deepEqual(map.labels, ["n02086240", "n02115641"]);
  assert.throws(() => map.toIndex("n0000", "val.txt"), /val\.txt: unknown label 'n0000'/);
  assert.throws(() => map.toLabel(2), RangeError);
});
