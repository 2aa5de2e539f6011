/**
 * `deno task ensemble` as a library call (the sweep joins its runs with it): the runs averaged,
 * the blend weight searched (or given), three submission files and `ensemble.json` written, and
 * every run and the ensemble scored when the runs carved off the same test part.
 */
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import {
  averageRuns,
  labelMapOf,
  readRunProbabilities,
  refuseSameRuns,
  searchEnsembleAlpha,
} from "../predict/ensemble.ts";
import { scoreSubmission, type SubmissionFiles, writeSubmissions } from "../predict/submission.ts";
import { ensembleFiles, jobFiles, runFiles, submissionFiles } from "../layout.ts";
import { writeTextAtomic } from "../files.ts";

export interface EnsembleOptions {
  /** Where the submission files, probabilities.tsv and ensemble.json go. */
  out: string;
  /** The blend weight of the averaged main head (default: searched on validation photos). */
  alpha?: number;
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface EnsembleResult {
  alpha: number;
  /** How the weight was searched (absent when it was given). */
  search?: { accuracy: number; photos: number; outOfFold: boolean };
  files: SubmissionFiles;
  /** Test-part accuracy of each run's blend (by folder) and of the ensemble's three files
   * (`ensemble main`, ...), when the runs share known answers. */
  scores: Record<string, number>;
}

export async function ensembleRuns(
  dirs: readonly string[],
  options: EnsembleOptions,
): Promise<EnsembleResult> {
  if (dirs.length < 2) throw new UsageError("an ensemble needs two run folders or more");
  refuseOutInsideRuns(options.out, dirs);
  await refuseSameRuns(dirs);
  const runs = await Promise.all(dirs.map(readRunProbabilities));
  const average = averageRuns(runs);
  const searched = options.alpha === undefined
    ? await searchEnsembleAlpha(dirs, { cacheDir: options.cacheDir, log: options.log })
    : undefined;
  const alpha = options.alpha ?? searched!.alpha;
  const search = searched &&
    { accuracy: searched.accuracy, photos: searched.photos, outOfFold: searched.outOfFold };
  const files = await writeSubmissions(
    options.out,
    average.ids,
    average.probs,
    alpha,
    labelMapOf(average),
  );
  const scores: Record<string, number> = {};
  if (await sameAnswers(dirs)) {
    const answers = runFiles(jobFiles(dirs[0]).train).testAnswers;
    for (const [i, dir] of dirs.entries()) {
      const blend = submissionFiles(dirname(runs[i].file)).blend;
      scores[dir] = (await scoreSubmission(blend, answers)).accuracy;
    }
    for (const head of ["main", "aux", "blend"] as const) {
      scores[`ensemble ${head}`] = (await scoreSubmission(files[head], answers)).accuracy;
    }
  }
  await writeTextAtomic(
    ensembleFiles(options.out).record,
    JSON.stringify(
      { runs: dirs, alpha, alphaSearched: search !== undefined, search, scores },
      null,
      1,
    ),
  );
  return { alpha, search, files, scores };
}

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
