/**
 * `deno task ensemble --runs A B ... --out DIR`: the average of several reproduce runs that share
 * their test part, as three submission files, with the blend weight searched on validation photos
 * (or --alpha). Scores every run and the ensemble when the runs carved off a test part.
 */
import { initBackend } from "../engine/tf.ts";
import { ensembleRuns } from "../pipeline/ensemble.ts";
import { UsageError } from "../errors.ts";
import { numberOption, parseCli } from "./run_args.ts";
import { filesLine, runMain, say } from "./main.ts";
import { logLine, percent } from "../progress.ts";

const HELP = `Usage: deno task ensemble --runs DIR DIR... --out DIR [options]

  --runs DIR...    reproduce run folders that share their test part (same dataset, --split-seed
                   and --test-fraction): seeds, presets, the folds of a k-fold split
  --out DIR        where the three submission files, probabilities.tsv and ensemble.json go
  --alpha A        blend weight of the averaged main head (default: searched on validation
                   photos with the runs' best models of the training stages, each photo
                   predicted by the runs that held it out)
  --cache-dir DIR  decoded-photo cache (default data/cache)`;

await runMain(async () => {
  const { values, positionals } = parseCli(HELP, {
    runs: { type: "string", multiple: true },
    out: { type: "string" },
    alpha: { type: "string" },
    "cache-dir": { type: "string" },
  });
  const dirs = [...(values.runs ?? []), ...positionals];
  if (dirs.length < 2) throw new UsageError("--runs needs two run folders or more (see --help)");
  if (!values.out) throw new UsageError("--out DIR is needed (see --help)");
  const alpha = values.alpha === undefined
    ? undefined
    : numberOption("alpha", values.alpha, { min: 0, max: 1 });
  // Its results are the output: the backend is chosen quietly.
  if (alpha === undefined) await initBackend({ quiet: true });
  const result = await ensembleRuns(dirs, {
    out: values.out,
    alpha,
    cacheDir: values["cache-dir"],
    log: logLine,
  });
  if (result.search) {
    const { accuracy, photos, outOfFold } = result.search;
    say(
      `alpha ${result.alpha.toFixed(2)}: validation accuracy of the averaged best models ` +
        `${percent(accuracy)} on ${photos} photos${
          outOfFold ? " (each predicted by the runs that held it out: out-of-fold)" : ""
        }`,
    );
  }
  for (const dir of dirs) {
    if (dir in result.scores) say(`${dir}: blend ${percent(result.scores[dir])} on the test part`);
  }
  for (const head of ["main", "aux", "blend"] as const) {
    const score = result.scores[`ensemble ${head}`];
    if (score !== undefined) say(`ensemble of ${dirs.length}: ${head} ${percent(score)}`);
  }
  const { files } = result;
  say(`submission files${filesLine([files.main, files.aux, files.blend])}`);
});
