import assert from "node:assert/strict";
import { confidentMistakes, confusionMatrix, perClassAccuracy } from "@/predict/analysis.ts";

Deno.test("analysis: confusion matrix, per-class accuracy and confident mistakes by hand", () => {
  // 4 samples, 3 classes
  const probs = Float32Array.from([
    0.7,
    0.2,
    0.1, // true 0, predicted 0
    0.1,
    0.3,
    0.6, // true 1, predicted 2 (0.6)
    0.05,
    0.9,
    0.05, // true 2, predicted 1 (0.9)
    0.2,
    0.5,
    0.3, // true 1, predicted 1
  ]);
  const labels = Int32Array.from([0, 1, 2, 1]);
  const m = confusionMatrix(probs, labels, 3);
  assert.deepEqual(m, [[1, 0, 0], [0, 1, 1], [0, 1, 0]]);
  assert.deepEqual(perClassAccuracy(m), [1, 0.5, 0]);
  const wrong = confidentMistakes(probs, labels, 3);
  assert.deepEqual(wrong.map((w) => [w.index, w.predicted]), [[2, 1], [1, 2]]);
  assert.ok(Math.abs(wrong[0].confidence - 0.9) < 1e-6);
});
