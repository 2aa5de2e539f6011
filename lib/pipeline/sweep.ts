/**
 * Many runs at once: the folds, seeds and presets of a sweep, each a `reproduce` job in its own
 * folder, run here one after another (`runLocal`) or handed to Slurm as a job array
 * (`slurm.ts`), then joined by `ensembleRuns`. The runs are independent and resumable, so a
 * sweep is only a plan written down: which runs, with which arguments. Running it again skips the
 * finished runs and resumes the others, whoever ran them.
 *
 * @example
 * ```ts
 * const sweep = await openSweep({ dir: "data/sweeps/x", common: ["--small"], presets: ["cpu"],
 *   seeds: [0], folds: 5, splitSeed: 0 });
 * await runLocal(sweep);
 * const summary = await joinSweep(sweep);
 * ```
 */
import { basename, extname, resolve } from "node:path";
import { DataError, UsageError } from "../errors.ts";
import { exists, readJsonIfAny, writeTextAtomic } from "../files.ts";
import { fromRoot } from "../paths.ts";
import { logLine } from "../progress.ts";
import { jobFiles, sweepFiles } from "../layout.ts";
import { lockHolder, lockRunFolder, refuseForeignFolder } from "../run/folder.ts";
import { type EnsembleResult, ensembleRuns } from "./ensemble.ts";
import type { ReproduceSummary } from "./reproduce.ts";

/** What a sweep runs: every preset x seed (x fold) combination, on one split. */
export interface SweepSpec {
  dir: string;
  /** The `reproduce` arguments every run shares (paths absolute: tasks run elsewhere). */
  common: string[];
  /** Built-in preset names or preset files. */
  presets: string[];
  seeds: number[];
  /** K-fold cross-validation: each run is one fold of K (undefined: --val-fraction). */
  folds?: number;
  /** One split for every run, so that they share their test part and can be ensembled. */
  splitSeed: number;
}

export interface SweepRun {
  /** The run's place in the sweep: its tasks/<index>.args, its Slurm array task. */
  index: number;
  /** `<preset>-seed<seed>[-fold<i>of<K>]`, its folder's name under runs/. */
  name: string;
  out: string;
  args: string[];
}

export interface Sweep {
  spec: SweepSpec;
  runs: SweepRun[];
}

/** The runs of a spec, in a fixed order (presets, then seeds, then folds). */
export function planSweep(spec: SweepSpec): SweepRun[] {
  if (!spec.presets.length || !spec.seeds.length) {
    throw new UsageError("a sweep needs a preset and a seed at least");
  }
  const folds = spec.folds === undefined
    ? [undefined]
    : Array.from({ length: spec.folds }, (_, i) => i);
  const runs: SweepRun[] = [];
  for (const preset of spec.presets) {
    for (const seed of spec.seeds) {
      for (const fold of folds) {
        const name = `${presetLabel(preset)}-seed${seed}` +
          (fold === undefined ? "" : `-fold${fold}of${spec.folds}`);
        const out = resolve(sweepFiles(spec.dir).runs, name);
        const args = [
          ...spec.common,
          ...["--preset", preset, "--seed", `${seed}`, "--split-seed", `${spec.splitSeed}`],
          ...(fold === undefined ? [] : ["--folds", `${spec.folds}`, "--fold", `${fold}`]),
          ...["--out", out],
        ];
        runs.push({ index: runs.length, name, out, args });
      }
    }
  }
  const names = runs.map((r) => r.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new UsageError(`two runs of the sweep would share the folder runs/${twice}`);
  const odd = runs.flatMap((r) => r.args).find((a) => /[\n\r\0]/.test(a));
  if (odd !== undefined) {
    throw new UsageError(`an argument holds a line break: ${JSON.stringify(odd)}`);
  }
  return runs;
}

/** A preset's name in folder names: a built-in's own, a file's name without `.json`. */
function presetLabel(preset: string): string {
  const name = preset.endsWith(".json") ? basename(preset, extname(preset)) : preset;
  return name.replace(/[^A-Za-z0-9_.+=-]+/g, "_");
}

/**
 * Binds a folder to a sweep: a new folder gets `sweep.json` and one arguments file per run; a
 * sweep folder made with another spec is refused, with one line naming what differs.
 */
export async function openSweep(spec: SweepSpec): Promise<Sweep> {
  const runs = planSweep(spec);
  const files = sweepFiles(spec.dir);
  const saved = await readSweepSpec(spec.dir);
  if (saved) {
    const difference = specDifference(saved, spec);
    if (difference) {
      throw new DataError(
        files.record,
        `${difference}; run the sweep as it was made, or in another folder (--out)`,
      );
    }
  } else {
    await refuseForeignFolder(spec.dir, [], "not empty and not a sweep folder (--out another)");
  }
  const lock = await lockRunFolder(spec.dir);
  try {
    if (!saved) await writeTextAtomic(files.record, JSON.stringify(spec, null, 1));
    await Deno.mkdir(files.tasks, { recursive: true });
    await Deno.mkdir(files.logs, { recursive: true });
    for (const run of runs) {
      await writeTextAtomic(files.task(run.index), run.args.join("\n") + "\n");
    }
  } finally {
    await lock.release();
  }
  // The folder as named now (a sweep folder moved elsewhere is still itself).
  return { spec: { ...(saved ?? spec), dir: spec.dir }, runs };
}

/** The sweep a folder holds (for `--status`, which takes no other option). */
export async function readSweep(dir: string): Promise<Sweep> {
  const spec = await readSweepSpec(dir);
  if (!spec) throw new DataError(dir, "no sweep.json: not a sweep folder (deno task sweep --out)");
  return { spec: { ...spec, dir }, runs: planSweep({ ...spec, dir }) };
}

function readSweepSpec(dir: string): Promise<SweepSpec | undefined> {
  return readJsonIfAny<SweepSpec>(
    sweepFiles(dir).record,
    "remove it (the runs' folders stay) and run the sweep command again",
  );
}

function specDifference(saved: SweepSpec, wanted: SweepSpec): string | undefined {
  for (const key of ["presets", "seeds", "folds", "splitSeed", "common"] as const) {
    const [a, b] = [JSON.stringify(saved[key] ?? null), JSON.stringify(wanted[key] ?? null)];
    if (a !== b) return `${key}: this sweep was made with ${a}, the command asks ${b}`;
  }
  return undefined;
}

/** Where a run stands, from its folder alone: finished (its summary), running (a live process
 * holds its lock), started and stopped, or not started. */
export async function runState(
  run: SweepRun,
): Promise<"finished" | "running" | "interrupted" | "new"> {
  if (await finishedSummary(run)) return "finished";
  if (await lockHolder(run.out)) return "running";
  return await exists(run.out) ? "interrupted" : "new";
}

async function finishedSummary(run: SweepRun): Promise<ReproduceSummary | undefined> {
  const text = await Deno.readTextFile(jobFiles(run.out).summary).catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as ReproduceSummary;
  } catch {
    return undefined; // a summary cut short is not a finished run: its job writes it again
  }
}

/** The runs not finished yet. */
export async function unfinished(sweep: Sweep): Promise<SweepRun[]> {
  const left = [];
  for (const run of sweep.runs) if ((await runState(run)) !== "finished") left.push(run);
  return left;
}

/** The command that runs one run: `reproduce` with its arguments, in the project's root. */
export function runCommand(run: SweepRun): { deno: string; args: string[]; cwd: string } {
  return {
    deno: Deno.execPath(),
    args: ["run", "-A", "lib/cli/reproduce.ts", ...run.args],
    cwd: fromRoot(),
  };
}

/**
 * Runs the unfinished runs here, one after another, each in a process of its own with its output
 * in logs/<name>.log. A run that fails is named and the others go on; the sweep then fails.
 */
export async function runLocal(
  sweep: Sweep,
  { log = logLine }: { log?: (line: string) => void } = {},
): Promise<void> {
  const left = await unfinished(sweep);
  if (!left.length) return log(`all ${sweep.runs.length} runs finished`);
  const lock = await lockRunFolder(sweep.spec.dir);
  const failed: string[] = [];
  try {
    for (const [i, run] of left.entries()) {
      const logFile = resolve(sweepFiles(sweep.spec.dir).logs, `${run.name}.log`);
      log(`run ${i + 1} of ${left.length}: ${run.name} (output: ${logFile})`);
      const started = performance.now();
      const code = await runLogged(run, logFile);
      const seconds = (performance.now() - started) / 1000;
      if (code === 0) log(`  ${run.name} finished in ${seconds.toFixed(0)} s`);
      else {
        log(`  ${run.name} failed (exit ${code}): see ${logFile}`);
        failed.push(run.name);
      }
    }
  } finally {
    await lock.release();
  }
  if (failed.length) {
    throw new DataError(
      sweepFiles(sweep.spec.dir).logs,
      `${failed.length} run(s) failed (${failed.join(", ")}): their logs say why; the same ` +
        "command resumes them",
    );
  }
}

/** One run as a child process, its output appended to a log file. */
async function runLogged(run: SweepRun, logFile: string): Promise<number> {
  const { deno, args, cwd } = runCommand(run);
  const file = await Deno.open(logFile, { append: true, create: true });
  try {
    const child = new Deno.Command(deno, { args, cwd, stdout: "piped", stderr: "piped" }).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) await file.write(chunk);
    };
    await Promise.all([pump(child.stdout), pump(child.stderr)]);
    return (await child.status).code;
  } finally {
    file.close();
  }
}

/** One run's line in the sweep's summary. */
export interface SweepRow {
  name: string;
  seconds: number;
  /** Its blend on its validation photos (its fold, or its --val-fraction part). */
  validation: number;
  /** Its final blend file on the test part (after the transfer, when there is one). */
  test?: number;
  /** The same before the transfer. */
  testBefore?: number;
}

export interface SweepSummary {
  runs: SweepRow[];
  /** Every run averaged (two runs or more). */
  ensemble?: Pick<EnsembleResult, "alpha" | "search" | "scores">;
}

/**
 * The finished sweep joined: every run averaged by `ensembleRuns` into ensemble/, and
 * summary.json with each run and the ensemble. Undefined while runs are left. A joined sweep
 * is read back, not joined again.
 */
export async function joinSweep(
  sweep: Sweep,
  { cacheDir, log = logLine }: { cacheDir?: string; log?: (line: string) => void } = {},
): Promise<SweepSummary | undefined> {
  const files = sweepFiles(sweep.spec.dir);
  const rows: SweepRow[] = [];
  for (const run of sweep.runs) {
    const s = await finishedSummary(run);
    if (!s) return undefined;
    rows.push({
      name: run.name,
      seconds: s.seconds,
      validation: s.validation.blend,
      test: (s.scores?.after ?? s.scores?.before)?.blend,
      testBefore: s.scores?.before.blend,
    });
  }
  const stored = await readJsonIfAny<SweepSummary>(files.summary, "remove it: it is made again");
  if (stored && JSON.stringify(stored.runs) === JSON.stringify(rows)) return stored;
  const lock = await lockRunFolder(sweep.spec.dir);
  try {
    let ensemble: SweepSummary["ensemble"];
    if (sweep.runs.length > 1) {
      log(`joining ${sweep.runs.length} runs into ${files.ensemble}`);
      const { alpha, search, scores } = await ensembleRuns(sweep.runs.map((r) => r.out), {
        out: files.ensemble,
        cacheDir,
        log,
      });
      ensemble = { alpha, search, scores };
    }
    const summary: SweepSummary = { runs: rows, ensemble };
    await writeTextAtomic(files.summary, JSON.stringify(summary, null, 1));
    return summary;
  } finally {
    await lock.release();
  }
}
