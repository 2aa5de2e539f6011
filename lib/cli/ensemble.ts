/**
 * `deno task ensemble --runs A B ... --out DIR`: the average of several reproduce runs of one
 * split, as three submission files, with the blend weight searched on their shared validation
 * photos (or --alpha). Scores every run and the ensemble when the runs carved off a test part.
 */
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { initBackend } from "../engine/tf.ts";
import {
  averageRuns,
  labelMapOf,
  readRunProbabilities,
  refuseSameRuns,
  searchEnsembleAlpha,
} from "../predict/ensemble.ts";
import { scoreSubmission, writeSubmissions } from "../predict/submission.ts";
import { UsageError } from "../errors.ts";
import { numberOption, parseCli } from "./run_args.ts";
import { filesLine, runMain, say } from "./main.ts";
import { logLine, percent } from "../progress.ts";
import { ensembleFiles, jobFiles, runFiles, submissionFiles } from "../layout.ts";

const HELP = `Usage: deno task ensemble --runs DIR DIR... --out DIR [options]

  --runs DIR...    reproduce run folders of the same split (same dataset, --split-seed and
                   fractions): their test ids and label maps must match
  --out DIR        where the three submission files, probabilities.tsv and ensemble.json go
  --alpha A        blend weight of the averaged main head (default: searched on the runs'
                   shared validation photos with their best models of the training stages)
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
  const alphaGiven = values.alpha === undefined
    ? undefined
    : numberOption("alpha", values.alpha, { min: 0, max: 1 });
  refuseOutInsideRuns(values.out, dirs);
  await refuseSameRuns(dirs);
  const runs = await Promise.all(dirs.map(readRunProbabilities));
  const average = averageRuns(runs);
  let alpha = alphaGiven;
  if (alpha === undefined) {
    await initBackend({ quiet: true }); // its results are the output
    const found = await searchEnsembleAlpha(dirs, {
      cacheDir: values["cache-dir"],
      log: logLine,
    });
    alpha = found.alpha;
    say(
      `alpha ${alpha.toFixed(2)}: validation accuracy of the averaged best models ` +
        `${percent(found.accuracy)}`,
    );
  }
  const files = await writeSubmissions(
    values.out,
    average.ids,
    average.probs,
    alpha,
    labelMapOf(average),
  );
  const answers = runFiles(jobFiles(dirs[0]).train).testAnswers;
  const scores: Record<string, number> = {};
  if (await sameAnswers(dirs)) {
    for (const [i, dir] of dirs.entries()) {
      const blendFile = submissionFiles(dirname(runs[i].file)).blend;
      const score = await scoreSubmission(blendFile, answers);
      scores[dir] = score.accuracy;
      say(`${dir}: blend ${percent(score.accuracy)} on the test part`);
    }
    for (const head of ["main", "aux", "blend"] as const) {
      const score = await scoreSubmission(files[head], answers);
      scores[`ensemble ${head}`] = score.accuracy;
      say(`ensemble of ${dirs.length}: ${head} ${percent(score.accuracy)}`);
    }
  }
  await Deno.writeTextFile(
    ensembleFiles(values.out).record,
    JSON.stringify({ runs: dirs, alpha, alphaSearched: alphaGiven === undefined, scores }, null, 1),
  );
  say(`submission files${filesLine([files.main, files.aux, files.blend])}`);
});

/** An ensemble's files never land in (and overwrite) one of its runs' own folders. */
function refuseOutInsideRuns(out: string, dirs: readonly string[]): void {
  for (const dir of dirs) {
    const inside = relative(resolve(dir), resolve(out));
    if (!inside.startsWith("..") && !isAbsolute(inside)) {
      throw new UsageError(
        `--out ${out} is inside the run folder ${dir}: its own submission files would be ` +
          "overwritten; choose a folder of its own",
      );
    }
  }
}

/** Whether every run carved off the same test part with the same answers. */
async function sameAnswers(dirs: readonly string[]): Promise<boolean> {
  const texts = await Promise.all(
    dirs.map((d) => Deno.readTextFile(runFiles(jobFiles(d).train).testAnswers).catch(() => "")),
  );
  return texts[0].split("\n").length > 1 && texts.every((t) => t === texts[0]);
}
