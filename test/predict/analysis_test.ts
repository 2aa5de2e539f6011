import assert from "node:assert/strict";
import { byConfidence, confidences, truthOf } from "@/predict/analysis.ts";

// Three photos, two classes; rows of main and aux probabilities.
const probs = {
  main: Float32Array.from([0.9, 0.1, 0.4, 0.6, 0.2, 0.8]),
  aux: Float32Array.from([0.7, 0.3, 0.6, 0.4, 0.4, 0.6]),
  classes: 2,
};

Deno.test("confidences: the blend's class and probability, right or wrong where known", () => {
  const truth = Int32Array.from([0, 0, -1]);
  const rows = confidences(["a", "b", "c"], probs, 0.5, truth);
  assert.deepEqual(rows.map((r) => [r.id, r.predicted, r.correct]), [
    ["a", 0, true],
    ["b", 0, true], // 0.5 * 0.4 + 0.5 * 0.6 = 0.5 against 0.5: the first maximum
    ["c", 1, undefined],
  ]);
  assert.ok(Math.abs(rows[0].confidence - 0.8) < 1e-6);
  assert.ok(Math.abs(rows[2].confidence - 0.7) < 1e-6);
});

Deno.test("byConfidence: photos and wrong ones per bin, the last bin closed at 1", () => {
  const rows = [
    { id: "a", predicted: 0, confidence: 0.55, correct: false },
    { id: "b", predicted: 0, confidence: 0.6, correct: true },
    { id: "c", predicted: 1, confidence: 1, correct: true },
    { id: "d", predicted: 1, confidence: 0.95 },
  ];
  assert.deepEqual(byConfidence(rows, [0, 0.5, 0.9, 1]), [
    { bin: "0.00–0.50", photos: 0, wrong: 0, wrongShare: 0 },
    { bin: "0.50–0.90", photos: 2, wrong: 1, wrongShare: 0.5 },
    { bin: "0.90–1.00", photos: 2, wrong: 0, wrongShare: 0 },
  ]);
});

Deno.test("truthOf: class indices from dataset labels, -1 without an answer", () => {
  const answers = new Map([["a", "dingo"], ["c", "beagle"]]);
  const index = (label: string) => ["beagle", "dingo"].indexOf(label);
  assert.deepEqual(Array.from(truthOf(["a", "b", "c"], answers, index)), [1, -1, 0]);
});
