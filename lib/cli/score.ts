/** `deno task score --submission FILE --answers FILE`: accuracy of a submission, per class too. */
import { percent } from "../progress.ts";
import { scoreSubmission } from "../predict/submission.ts";
import { displayName } from "../data/breeds.ts";
import { readNames } from "../data/names.ts";
import { UsageError } from "../errors.ts";
import { parseCliArgs } from "./run_args.ts";
import { runMain } from "./main.ts";

const HELP = `Usage: deno task score --submission FILE --answers FILE

  --submission FILE   a submission file: 'label<TAB>image_id' lines (what reproduce writes)
  --answers FILE      the answer key: a table with id and label columns (a run's
                      train/test_answers.tsv), or 'label<TAB>image_id' lines as a competition
                      hands them out
  --names FILE        display names for the labels: 'label<TAB>name' lines

Prints the accuracy, then the accuracy of every class. Every answer id needs a prediction.`;

await runMain(async () => {
  const values = parseCliArgs(HELP, {
    submission: { type: "string" },
    answers: { type: "string" },
    names: { type: "string" },
  });
  if (!values.submission || !values.answers) {
    throw new UsageError("--submission and --answers are both needed (see --help)");
  }
  const names = values.names ? await readNames(values.names) : new Map<string, string>();
  const score = await scoreSubmission(values.submission, values.answers);
  console.log(`accuracy ${percent(score.accuracy)} (${score.correct}/${score.total})`);
  const rows = score.perClass.map((c) => [
    c.label,
    names.get(c.label) ?? displayName(c.label),
    c.accuracy.toFixed(3),
    String(c.total),
  ]);
  const header = ["label", "breed", "accuracy", "photos"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const row of [header, ...rows]) {
    console.log(row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
  }
});
