/**
 * `deno task sweep`: folds, seeds and presets, each a reproduce job in its own folder, run here
 * one after another or as a Slurm job array, then joined by the ensemble. The same command run
 * again skips what finished and resumes or resubmits the rest.
 */
import { resolve } from "node:path";
import { initBackend } from "../engine/tf.ts";
import { UsageError } from "../errors.ts";
import { readJsonIfAny } from "../files.ts";
import { formatTime, logLine, percent } from "../progress.ts";
import { sweepFiles } from "../layout.ts";
import {
  integerOption,
  parseCliArgs,
  RUN_HELP,
  RUN_OPTIONS,
  runInputs,
  type RunValues,
} from "./run_args.ts";
import { runMain, say } from "./main.ts";
import {
  joinSweep,
  openSweep,
  readSweep,
  runLocal,
  runState,
  type Sweep,
  type SweepSpec,
  type SweepSummary,
  unfinished,
} from "../pipeline/sweep.ts";
import {
  queuedTasks,
  type SlurmOptions,
  submitSlurm,
  taskLog,
  waitForSlurm,
} from "../pipeline/slurm.ts";

const HELP = `Usage: deno task sweep --out DIR [--folds K] [--seeds S,...] [--presets P,...]
                        [--local | --slurm [--wait]] [run options]
       deno task sweep --status --out DIR

Runs every preset x seed (x fold) combination as a reproduce job in DIR/runs/<name>, on one
split (they share their test part), then averages them all (deno task ensemble) into
DIR/ensemble and writes DIR/summary.json. The same command again skips finished runs, resumes
interrupted ones, and joins them once all have finished.

Sweep:
  --out DIR           the sweep's folder (needed; --status reads it)
  --folds K           k-fold cross-validation: one run per fold, each validating on its part
  --seeds S,...       seeds, whole numbers (default 0)
  --presets P,...     built-in presets or preset files (default cpu)
  --split-seed N      the split every run shares (default 0)
  --local             run them here, one after another (the default)
  --slurm             submit the runs left as one Slurm job array (sbatch), its script in
                      DIR/slurm/sweep.sh; --wait waits for it, then joins
  --status            where each run stands: finished, with Slurm, or left
  --poll S            seconds between looks at the queue under --wait (default 10)

Slurm resources, per array task (default: the cluster's):
  --partition NAME    --constraint FEATURE (e.g. a GPU model)   --gres gpu:1 (the seed preset)
  --cpus N            --mem 8G            --time 2:00:00        --parallel N (tasks at once)

Run options (each run gets them, but --out, --preset, --seed, --split-seed and --folds/--fold,
which the sweep sets per run; see deno task reproduce --help):
${RUN_HELP}`;

/** The run options a sweep sets itself, per run. */
const PER_RUN = new Set(["preset", "seed", "out", "folds", "fold", "split-seed", "help"]);
/** Run options that are paths: made absolute, since tasks run from the project's root. */
const PATHS = new Set(["weights", "cache-dir"]);

const SWEEP_OPTIONS = {
  ...RUN_OPTIONS,
  out: { type: "string" },
  folds: { type: "string" },
  seeds: { type: "string" },
  presets: { type: "string" },
  "split-seed": { type: "string" },
  local: { type: "boolean" },
  slurm: { type: "boolean" },
  wait: { type: "boolean" },
  status: { type: "boolean" },
  poll: { type: "string" },
  partition: { type: "string" },
  constraint: { type: "string" },
  gres: { type: "string" },
  cpus: { type: "string" },
  mem: { type: "string" },
  time: { type: "string" },
  parallel: { type: "string" },
} as const;

await runMain(async () => {
  const values = parseCliArgs(HELP, SWEEP_OPTIONS);
  if (!values.out) throw new UsageError("--out DIR is needed: the sweep's folder (see --help)");
  if (values.status) return await printStatus(await readSweep(values.out));
  if (values.local && values.slurm) throw new UsageError("--local or --slurm: choose one");
  if (values.wait && !values.slurm) throw new UsageError("--wait goes with --slurm");
  const sweep = await openSweep(await sweepSpec(values));
  const slurmOptions = slurmOptionsOf(values);
  if (values.slurm) {
    await submitSlurm(sweep, slurmOptions, { log: say });
    if (!values.wait) {
      const left = await unfinished(sweep);
      if (left.length) {
        say(
          `follow it: deno task sweep --status --out ${values.out}; when it ends, run this ` +
            "command again to join the runs (or add --wait)",
        );
        return;
      }
    } else await waitForSlurm(sweep, { poll: pollOf(values), log: say });
  } else await runLocal(sweep, { log: say });
  await join(sweep, values["cache-dir"]);
});

async function sweepSpec(values: RunValues & Record<string, unknown>): Promise<SweepSpec> {
  const list = (name: "seeds" | "presets", fallback: string) =>
    String(values[name] ?? fallback).split(",").map((v) => v.trim()).filter(Boolean);
  const seeds = list("seeds", "0").map((s) => integerOption("seeds", s));
  const presets = list("presets", "cpu").map((p) => p.endsWith(".json") ? resolve(p) : p);
  // Every run's options checked now (one line for a typo), before anything is written: as
  // `reproduce` checks them, --folds as for its first fold.
  let data = "";
  let folds: number | undefined;
  for (const preset of presets) {
    const fold = values.folds === undefined ? undefined : "0";
    const inputs = await runInputs({ ...values, preset, fold });
    [data, folds] = [inputs.data, inputs.folds?.count];
  }
  const common: string[] = ["--data", data];
  for (const [name, spec] of Object.entries(RUN_OPTIONS)) {
    const value = values[name as keyof RunValues];
    if (PER_RUN.has(name) || name === "data" || value === undefined || value === false) continue;
    if (spec.type === "boolean") common.push(`--${name}`);
    else {
      const text = String(value);
      common.push(`--${name}`, PATHS.has(name) && text !== "imagenet" ? resolve(text) : text);
    }
  }
  const splitSeed = values["split-seed"] === undefined
    ? 0
    : integerOption("split-seed", String(values["split-seed"]));
  return { dir: resolve(String(values.out)), common, presets, seeds, folds, splitSeed };
}

function slurmOptionsOf(values: Record<string, unknown>): SlurmOptions {
  const text = (name: string) => values[name] === undefined ? undefined : String(values[name]);
  const whole = (name: string) => {
    const value = text(name);
    if (value === undefined) return undefined;
    const n = integerOption(name, value);
    if (n < 1) throw new UsageError(`--${name} '${value}': expected a whole number from 1`);
    return n;
  };
  return {
    partition: text("partition"),
    constraint: text("constraint"),
    gres: text("gres"),
    cpus: whole("cpus"),
    mem: text("mem"),
    time: text("time"),
    parallel: whole("parallel"),
  };
}

function pollOf(values: Record<string, unknown>): number {
  if (values.poll === undefined) return 10;
  const n = Number(values.poll);
  if (!(n > 0 && n <= 3600)) throw new UsageError(`--poll '${values.poll}': expected seconds`);
  return n;
}

/** Joins a finished sweep and prints its table, or names the runs left. */
async function join(sweep: Sweep, cacheDir?: string): Promise<void> {
  const left = await unfinished(sweep);
  if (left.length) {
    for (const run of left) {
      const log = await taskLog(sweep, run) ??
        resolve(sweepFiles(sweep.spec.dir).logs, `${run.name}.log`);
      say(`not finished: ${run.name} (its output: ${log})`);
    }
    throw new UsageError(
      `${left.length} of ${sweep.runs.length} runs did not finish: the same command resumes them`,
    );
  }
  if (sweep.runs.length > 1) await initBackend({ quiet: true });
  const summary = await joinSweep(sweep, { cacheDir, log: logLine });
  if (summary) printSummary(sweep, summary);
}

function printSummary(sweep: Sweep, summary: SweepSummary): void {
  const width = Math.max(3, ...summary.runs.map((r) => r.name.length));
  say(`\n${"run".padEnd(width)}  wall time  validation  test part`);
  for (const row of summary.runs) {
    const test = row.test === undefined ? "-" : percent(row.test);
    say(
      `${row.name.padEnd(width)}  ${formatTime(row.seconds).padStart(9)}  ` +
        `${percent(row.validation).padStart(10)}  ${test.padStart(9)}`,
    );
  }
  const e = summary.ensemble;
  if (e) {
    const how = e.search
      ? `, searched on ${e.search.photos} validation photos${
        e.search.outOfFold ? " out of fold" : ""
      }`
      : "";
    const heads = (["main", "aux", "blend"] as const)
      .filter((h) => e.scores[`ensemble ${h}`] !== undefined)
      .map((h) => `${h} ${percent(e.scores[`ensemble ${h}`])}`).join(", ");
    say(
      `ensemble of ${summary.runs.length} (alpha ${e.alpha.toFixed(2)}${how})` +
        (heads ? `: ${heads} on the test part` : ""),
    );
  }
  say(`summary: ${sweepFiles(sweep.spec.dir).summary}`);
}

/** Each run's state, and Slurm's where it holds them. */
async function printStatus(sweep: Sweep): Promise<void> {
  const queued = await queuedTasks(sweep).catch((error) => {
    say(`(no queue: ${(error as Error).message})`);
    return new Map<number, string>();
  });
  const counts = new Map<string, number>();
  for (const run of sweep.runs) {
    const state = await runState(run);
    const shown = state === "finished"
      ? "finished"
      : queued.get(run.index)?.toLowerCase() ?? (state === "new" ? "not started" : state);
    counts.set(shown, (counts.get(shown) ?? 0) + 1);
    say(`${run.name}: ${shown}`);
  }
  say(
    `${sweep.runs.length} runs: ${[...counts].map(([state, n]) => `${n} ${state}`).join(", ")}`,
  );
  const joined = await readJsonIfAny<SweepSummary>(
    sweepFiles(sweep.spec.dir).summary,
    "remove it: the sweep command makes it again",
  );
  if (joined && counts.get("finished") === sweep.runs.length) printSummary(sweep, joined);
}
