/**
 * The seed's outputs by hand: each submission file is the argmax of its head (main, aux, the
 * alpha blend) in the dataset's own labels; probabilities.tsv holds both heads; pseudo-labels are
 * the blend's argmax, optionally only above a threshold; every unreadable test photo gets the
 * fallback row.
 */
import assert from "node:assert/strict";
import { LabelMap } from "@/data/labels.ts";
import { readRows, readTable } from "@/data/table.ts";
import { writeSubmissions } from "@/predict/submission.ts";
import { classPrior, pseudoLabels, withFallback } from "@/pipeline/pseudo_labels.ts";
import { trainingPool } from "@/train/training_run.ts";
import { PRESETS } from "@/run/presets.ts";
import { tempDir } from "../fixtures.ts";

// Two photos, three classes with Baidu-style numeric ids. Photo x: main says 17, aux says 133, a
// blend at alpha 0.3 says 133 (0.3*0.5 + 0.7*0.1 = 0.22 for 17 against 0.3*0.1 + 0.7*0.8 = 0.59).
// Photo y: both say 2.
const labels = LabelMap.fromOrdered(["2", "17", "133"]);
const probs = {
  main: Float32Array.from([0.4, 0.5, 0.1, 0.8, 0.1, 0.1]),
  aux: Float32Array.from([0.1, 0.1, 0.8, 0.6, 0.3, 0.1]),
  classes: 3,
};

Deno.test("submissions: argmax of main, aux and blend, in the dataset's labels; both heads kept", async () => {
  const dir = await tempDir();
  const files = await writeSubmissions(dir, ["x", "y"], probs, 0.3, labels);
  const read = async (f: string) => await readRows(f, { delimiter: "\t" });
  assert.deepEqual(await read(files.main), [["17", "x"], ["2", "y"]]);
  assert.deepEqual(await read(files.aux), [["133", "x"], ["2", "y"]]);
  assert.deepEqual(await read(files.blend), [["133", "x"], ["2", "y"]]);
  const table = await readTable(files.probabilities, { delimiter: "\t" });
  assert.deepEqual(Object.keys(table[0]), [
    "image_id",
    "main_2",
    "main_17",
    "main_133",
    "aux_2",
    "aux_17",
    "aux_133",
  ]);
  assert.equal(table[0].main_17, "0.500000");
  assert.equal(table[1].aux_2, "0.600000");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pseudo-labels: the blend's argmax, and a threshold keeps the confident ones only", () => {
  const test = [{ id: "x", path: "x.jpg" }, { id: "y", path: "y.jpg" }];
  const all = pseudoLabels(test, { ids: ["x", "y"], probs }, 0.3, 0, (i) => labels.toLabel(i));
  assert.deepEqual(all.map((p) => [p.id, p.label]), [["x", "133"], ["y", "2"]]);
  // Blended maxima: x 0.59, y 0.3*0.8 + 0.7*0.6 = 0.66.
  const confident = pseudoLabels(
    test,
    { ids: ["x", "y"], probs },
    0.3,
    0.6,
    (i) => labels.toLabel(i),
  );
  assert.deepEqual(confident.map((p) => p.id), ["y"]);
});

Deno.test("unreadable test photos: the class prior as both heads, every id in id order", () => {
  const prior = classPrior([1, 1, 2, 1], 3);
  assert.deepEqual(Array.from(prior), [0, 0.75, 0.25]);
  const [ids, all] = withFallback(["x", "y"], probs, ["a", "z"], prior);
  assert.deepEqual(ids, ["a", "x", "y", "z"]);
  assert.deepEqual(Array.from(all.main.subarray(0, 3)), Array.from(prior));
  assert.deepEqual(Array.from(all.aux.subarray(9, 12)), Array.from(prior));
  assert.deepEqual(Array.from(all.main.subarray(3, 6)), Array.from(probs.main.subarray(0, 3)));
});

Deno.test("the transfer's pools: Transfer policies draw from train + val + pseudo-labels; Train from train alone, as the seed", () => {
  const photo = (id: string) => ({ id, path: `${id}.jpg`, label: "2" });
  const data = { train: [photo("t1"), photo("t2")], val: [photo("v1")] };
  const pseudo = [photo("q1"), photo("q2")];
  const ids = (pool: { id: string }[]) => pool.map((p) => p.id);
  const transfer = { pseudo, trainOnVal: true };
  assert.deepEqual(ids(trainingPool("Transfer_DA", data, transfer)), [
    "t1",
    "t2",
    "v1",
    "q1",
    "q2",
  ]);
  assert.deepEqual(ids(trainingPool("Transfer", data, transfer)), ["t1", "t2", "v1", "q1", "q2"]);
  assert.deepEqual(ids(trainingPool("Train", data, transfer)), ["t1", "t2"]);
  // Stages 1-3: the training photos alone.
  assert.deepEqual(ids(trainingPool("Train_DA", data, {})), ["t1", "t2"]);
  assert.deepEqual(ids(trainingPool("Train", data, {})), ["t1", "t2"]);
  // The seed's transfer schedule: Transfer_DA, then Transfer, then Train, with the stage-2 SGD.
  for (const preset of [PRESETS.seed, PRESETS.cpu]) {
    assert.deepEqual(preset.transferStages.map((s) => s.policy), [
      "Transfer_DA",
      "Transfer",
      "Train",
    ]);
    assert.ok(preset.transferStages.every((s) => s.unfreeze && s.optimizer.kind === "sgd"));
  }
  // Its rounds: ten of each, as the seed's transfer runs them.
  assert.deepEqual(PRESETS.seed.transferStages.map((s) => s.rounds), [10, 10, 10]);
});
