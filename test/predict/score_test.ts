/** Scoring a submission: both answer-key forms, missing predictions named, numeric class order. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DataError } from "@/errors.ts";
import { compareLabels, scoreSubmission } from "@/predict/submission.ts";
import { tempDir } from "../fixtures.ts";

async function files(submission: string, answers: string) {
  const dir = await tempDir();
  await Deno.writeTextFile(join(dir, "submission.txt"), submission);
  await Deno.writeTextFile(join(dir, "answers.tsv"), answers);
  return { dir, submission: join(dir, "submission.txt"), answers: join(dir, "answers.tsv") };
}

const SUBMISSION = "17\ta\n133\tb\n2\tc\n17\td\n";

Deno.test("score: a run's answer table and a competition's key give the same score", async () => {
  const table = await files(SUBMISSION, "id\tlabel\na\t17\nb\t2\nc\t2\nd\t17\n");
  const key = await files(SUBMISSION, "17\ta\n2\tb\n2\tc\n17\td\n");
  for (const f of [table, key]) {
    const score = await scoreSubmission(f.submission, f.answers);
    assert.equal(score.correct, 3);
    assert.equal(score.total, 4);
    assert.equal(score.accuracy, 0.75);
    // Numeric ids in numeric order ("2" before "17"), not as strings.
    assert.deepEqual(score.perClass.map((c) => [c.label, c.accuracy, c.total]), [
      ["2", 0.5, 2],
      ["17", 1, 2],
    ]);
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("score: empty files and missing predictions are errors naming the file and ids", async () => {
  const empty = await files("", "");
  await assert.rejects(scoreSubmission(empty.submission, empty.answers), (e: Error) => {
    assert.ok(e instanceof DataError);
    assert.equal(e.message, `${empty.answers}: no answers in this file`);
    return true;
  });
  const partial = await files("17\ta\n", "17\ta\n2\tb\n2\tc\n17\td\n2\te\n");
  await assert.rejects(
    scoreSubmission(partial.submission, partial.answers),
    new RegExp(
      `^DataError: ${partial.submission}: 4 of 5 answer ids have no prediction ` +
        `\\(first: 'b', 'c', 'd', \\.\\.\\.\\)$`,
    ),
  );
  await Deno.remove(empty.dir, { recursive: true });
  await Deno.remove(partial.dir, { recursive: true });
});

Deno.test("score: class order is numeric for numbers, alphabetical otherwise", () => {
  assert.deepEqual(["133", "17", "2"].sort(compareLabels), ["2", "17", "133"]);
  assert.deepEqual(["n02", "b", "a1"].sort(compareLabels), ["a1", "b", "n02"]);
});
