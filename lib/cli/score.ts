/** `deno task score --submission FILE --answers FILE`: accuracy of a submission, per class too. */
import { parseArgs } from "node:util";
import { scoreSubmission } from "../predict/submission.ts";
import { displayName } from "../data/breeds.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { submission: { type: "string" }, answers: { type: "string" } },
});
if (!values.submission || !values.answers) {
  console.log(
    "Usage: deno task score --submission submission_blend.txt --answers test_answers.tsv",
  );
  Deno.exit(2);
}
const score = await scoreSubmission(values.submission, values.answers);
console.log(`accuracy ${(100 * score.accuracy).toFixed(2)}% (${score.correct}/${score.total})`);
console.table(
  score.perClass.map((c) => ({
    label: c.label,
    breed: displayName(c.label),
    accuracy: c.accuracy.toFixed(3),
    photos: c.total,
  })),
);
