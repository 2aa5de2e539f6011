/**
 * A sweep handed to Slurm: one job-array script (`slurm/sweep.sh`, the same for every
 * submission), submitted with `sbatch --array=<the runs left>`; each array task runs one run's
 * `reproduce` with the arguments in tasks/<index>.args. Slurm schedules, the run folders resume:
 * a task that was killed is submitted again by the next `deno task sweep --slurm`, and picks its
 * run up where it stopped.
 */
import { basename, resolve } from "node:path";
import { DataError, UsageError } from "../errors.ts";
import { exists, readJsonIfAny, sha256Hex, writeTextAtomic } from "../files.ts";
import { fromRoot } from "../paths.ts";
import { logLine } from "../progress.ts";
import { sweepFiles } from "../layout.ts";
import { lockRunFolder } from "../run/folder.ts";
import { type Sweep, type SweepRun, unfinished } from "./sweep.ts";

/** What each array task asks of the cluster (left out: the cluster's defaults). */
export interface SlurmOptions {
  partition?: string;
  /** A node feature, e.g. a GPU model (`--constraint`). */
  constraint?: string;
  /** Generic resources, e.g. `gpu:1` for the `seed` preset. */
  gres?: string;
  cpus?: number;
  /** Memory per task, e.g. `8G`. */
  mem?: string;
  /** Time limit per task, e.g. `2:00:00`. */
  time?: string;
  /** Array tasks running at once (`--array=...%N`). */
  parallel?: number;
}

/** One `sbatch` of the sweep: its job id and the array tasks (run indices) it holds. */
interface Submission {
  job: string;
  tasks: number[];
  submitted: string;
}

/** The sweep's job name: its folder's, with a hash that tells two folders of one name apart. */
export function jobName(sweep: Sweep): string {
  const dir = resolve(sweep.spec.dir);
  return `sweep-${basename(dir).replace(/[^A-Za-z0-9_.-]/g, "_")}-${sha256Hex(dir, 6)}`;
}

/** Single-quoted for bash. */
function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The job-array script. Resources are `#SBATCH` lines a user can read and edit in place. */
export function slurmScript(sweep: Sweep, options: SlurmOptions = {}): string {
  const files = sweepFiles(resolve(sweep.spec.dir));
  const directives = [
    `--job-name=${jobName(sweep)}`,
    `--output=${files.logs}/task%a-job%A.log`,
    options.partition && `--partition=${options.partition}`,
    options.constraint && `--constraint=${options.constraint}`,
    options.gres && `--gres=${options.gres}`,
    options.cpus && `--cpus-per-task=${options.cpus}`,
    options.mem && `--mem=${options.mem}`,
    options.time && `--time=${options.time}`,
  ].filter(Boolean).map((d) => `#SBATCH ${d}`);
  return [
    "#!/bin/bash",
    "# One array task per run of the sweep: deno task reproduce with the arguments in",
    "# tasks/<task id>.args. Written by deno task sweep --slurm, submitted with",
    "# sbatch --array=<the runs left> (the same script every time).",
    ...directives,
    "set -euo pipefail",
    `DENO="\${DENO:-${Deno.execPath()}}"`,
    `cd ${quote(fromRoot())}`,
    `mapfile -t args < ${quote(files.tasks)}/"$SLURM_ARRAY_TASK_ID.args"`,
    'exec "$DENO" run -A lib/cli/reproduce.ts "${args[@]}"',
    "",
  ].join("\n");
}

/** Runs a Slurm command, its output as text; a missing command or a refusal is one line. */
async function slurm(command: string, args: string[]): Promise<string> {
  let output;
  try {
    output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `--slurm: no ${command} on this machine's PATH (run the sweep where Slurm's commands ` +
          "are, or use --local)",
      );
    }
    throw error;
  }
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    const why = new TextDecoder().decode(output.stderr).trim().split("\n").at(-1);
    throw new UsageError(`${command} ${args.join(" ")}: ${why || `exit ${output.code}`}`);
  }
  return text;
}

async function submissions(sweep: Sweep): Promise<Submission[]> {
  return await readJsonIfAny<Submission[]>(
    sweepFiles(sweep.spec.dir).jobs,
    "remove it: the runs' folders say what is finished",
  ) ?? [];
}

/** The sweep's array tasks Slurm still holds (pending, running, ...), by run index. */
export async function queuedTasks(sweep: Sweep): Promise<Map<number, string>> {
  const jobs = new Set((await submissions(sweep)).map((s) => s.job));
  const queued = new Map<number, string>();
  if (!jobs.size) return queued;
  // By the sweep's job name, not by id: squeue refuses ids it has forgotten.
  const text = await slurm("squeue", ["-h", "-r", "-n", jobName(sweep), "-o", "%F %K %T"]);
  for (const line of text.trim().split("\n").filter(Boolean)) {
    const [job, task, state] = line.trim().split(/\s+/);
    if (jobs.has(job) && /^\d+$/.test(task)) queued.set(Number(task), state);
  }
  return queued;
}

/**
 * Submits the runs that are neither finished nor held by Slurm, as one job array; returns them
 * (none: nothing was submitted). The script is written again first, so options given now apply.
 */
export async function submitSlurm(
  sweep: Sweep,
  options: SlurmOptions = {},
  { log = logLine }: { log?: (line: string) => void } = {},
): Promise<SweepRun[]> {
  const files = sweepFiles(sweep.spec.dir);
  const lock = await lockRunFolder(sweep.spec.dir);
  try {
    const queued = await queuedTasks(sweep);
    const todo = (await unfinished(sweep)).filter((run) => !queued.has(run.index));
    if (!todo.length) {
      log(
        queued.size
          ? `${queued.size} run(s) already with Slurm, none left to submit`
          : `all ${sweep.runs.length} runs finished`,
      );
      return [];
    }
    await Deno.mkdir(resolve(files.script, ".."), { recursive: true });
    await writeTextAtomic(files.script, slurmScript(sweep, options));
    const indices = todo.map((r) => r.index).join(",");
    const array = options.parallel ? `${indices}%${options.parallel}` : indices;
    const job = (await slurm("sbatch", ["--parsable", `--array=${array}`, files.script]))
      .trim().split(";")[0];
    if (!/^\d+$/.test(job)) throw new DataError(files.script, `sbatch answered '${job}'`);
    const all = [
      ...await submissions(sweep),
      { job, tasks: todo.map((r) => r.index), submitted: new Date().toISOString() },
    ];
    await writeTextAtomic(files.jobs, JSON.stringify(all, null, 1));
    log(
      `submitted job ${job}: ${todo.length} array task(s) (${todo.map((r) => r.name).join(", ")})`,
    );
    return todo;
  } finally {
    await lock.release();
  }
}

/** Waits until Slurm holds none of the sweep's tasks, saying so whenever the counts change. */
export async function waitForSlurm(
  sweep: Sweep,
  { poll = 10, log = logLine }: { poll?: number; log?: (line: string) => void } = {},
): Promise<void> {
  let said = "";
  for (;;) {
    const queued = await queuedTasks(sweep);
    const counts = new Map<string, number>();
    for (const state of queued.values()) counts.set(state, (counts.get(state) ?? 0) + 1);
    const line = queued.size
      ? [...counts].map(([state, n]) => `${n} ${state.toLowerCase()}`).join(", ")
      : "none left with Slurm";
    if (line !== said) log(`slurm: ${line}`);
    said = line;
    if (!queued.size) return;
    await new Promise((r) => setTimeout(r, poll * 1000));
  }
}

/** The newest Slurm log of a run (array task), if any. */
export async function taskLog(sweep: Sweep, run: SweepRun): Promise<string | undefined> {
  const logs = sweepFiles(sweep.spec.dir).logs;
  const jobs = (await submissions(sweep)).filter((s) => s.tasks.includes(run.index));
  for (const { job } of jobs.reverse()) {
    const path = resolve(logs, `task${run.index}-job${job}.log`);
    if (await exists(path)) return path;
  }
  return undefined;
}
