/**
 * `deno task sweep`: two folds x --small, run here and through a real one-node Slurm (started by
 * the test), joined by the ensemble; a killed array task resubmitted by the same command ends
 * with the files of an uninterrupted sweep, byte for byte.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readSplit } from "@/data/prepare.ts";
import { decode, makeColourDataset, SHARED_MOBILENET, tempDir } from "../fixtures.ts";
import { startSlurm } from "../fixtures/slurm.ts";

const dir = await tempDir();
const data = join(dir, "data");
const cache = join(dir, "cache");
await makeColourDataset(data);

const RUNS = ["cpu-seed0-fold0of2", "cpu-seed0-fold1of2"];

/** `deno task sweep` with the cluster's environment. */
function command(env: Record<string, string>, ...args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli/sweep.ts", ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  });
}

/** The sweep of these tests: two folds of the colour photos, --small. */
function sweep(out: string, env: Record<string, string>, ...extra: string[]): Deno.Command {
  return command(
    env,
    ...["--out", out, "--folds", "2", "--small", "--data", data],
    ...["--weights", SHARED_MOBILENET, "--cache-dir", cache, ...extra],
  );
}

async function run(command: Deno.Command): Promise<string> {
  const result = await command.output();
  const text = decode(result.stdout) + decode(result.stderr);
  assert.equal(result.code, 0, text.slice(-3000));
  return text;
}

/** Every file a sweep's results are made of: submissions, probabilities, checkpoints' weights,
 * the ensemble. Timings (summary.json, logs) are not results. */
async function results(out: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (path: string, rel: string) => {
    for await (const e of Deno.readDir(path)) {
      const p = join(path, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(p, r);
      else if (/\.(txt|tsv|bin)$/.test(e.name) && !r.startsWith("logs/")) {
        files.set(
          r,
          await crypto.subtle.digest("SHA-256", await Deno.readFile(p)).then((h) =>
            Array.from(new Uint8Array(h), (b) => b.toString(16).padStart(2, "0")).join("")
          ),
        );
      }
    }
  };
  await walk(out, "");
  return files;
}

async function checkFolds(out: string): Promise<void> {
  const splits = await Promise.all(RUNS.map((r) => readSplit(join(out, "runs", r, "train"))));
  const val = splits.map((s) => s.val.map((p) => p.id));
  assert.equal(val[0].filter((id) => val[1].includes(id)).length, 0, "folds validate apart");
  const labelled = [...splits[0].train, ...splits[0].val].map((p) => p.id).sort();
  assert.deepEqual([...val[0], ...val[1]].sort(), labelled, "the folds cover every labelled photo");
  const test = splits.map((s) => s.test.map((p) => p.id).join("\n"));
  assert.equal(test[0], test[1], "one test part for every fold");
  const run = JSON.parse(await Deno.readTextFile(join(out, "runs", RUNS[1], "train", "run.json")));
  assert.deepEqual(run.identity.settings.folds, { count: 2, index: 1 }, "the fold is in run.json");
}

Deno.test("deno task sweep --local: two folds, joined out of fold; run again, nothing redone", async () => {
  const out = join(dir, "local");
  const first = await run(sweep(out, {}, "--local"));
  assert.match(first, /run 2 of 2: cpu-seed0-fold1of2/);
  assert.match(
    first,
    /ensemble of 2 \(alpha [\d.]+, searched on \d+ validation photos out of fold\)/,
  );
  await checkFolds(out);
  const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
  assert.deepEqual(summary.runs.map((r: { name: string }) => r.name), RUNS);
  assert.equal(typeof summary.ensemble.scores["ensemble blend"], "number");
  // The blend weight was searched out of fold: every labelled photo, by the fold that held it out.
  const split = await readSplit(join(out, "runs", RUNS[0], "train"));
  assert.deepEqual(summary.ensemble.search, {
    accuracy: summary.ensemble.search.accuracy,
    photos: split.train.length + split.val.length,
    outOfFold: true,
  });
  const { accuracy } = summary.ensemble.search;
  assert.ok(accuracy > 1 / 3 && accuracy <= 1, `out-of-fold accuracy ${accuracy}: above chance`);
  const status = await run(command({}, "--status", "--out", out));
  assert.match(status, /2 runs: 2 finished/);
  assert.match(status, /ensemble of 2 \(alpha/, "a joined sweep's status shows its table");
  const again = await run(sweep(out, {}));
  assert.match(again, /all 2 runs finished/);
  assert.doesNotMatch(again, /joining/, "a joined sweep is read back");
  // A sweep folder moved elsewhere is still itself.
  const moved = join(dir, "local-moved");
  await Deno.rename(out, moved);
  const there = await run(sweep(moved, {}));
  assert.match(there, /all 2 runs finished/);
  assert.doesNotMatch(there, /joining/, "its summary read back where it now is");
  assert.equal(await Deno.stat(out).catch(() => undefined), undefined, "nothing where it was");
  await Deno.rename(moved, out);
  const other = await sweep(out, {}, "--seeds", "1").output();
  assert.equal(other.code, 2, "a user's error: one line");
  assert.match(decode(other.stderr), /sweep\.json: seeds: this sweep was made with \[0\]/);
});

const slurmDir = await Deno.makeTempDir({ prefix: "dogs-slurm-" });
const slurm = await startSlurm(slurmDir);
if (typeof slurm === "string") {
  // Where Slurm cannot start, the Slurm tests are skipped, and say so; CI must run them.
  if (Deno.env.get("CI")) throw new Error(`CI needs Slurm for the sweep tests: ${slurm}`);
  console.warn(`SKIPPED: deno task sweep --slurm (${slurm})`);
}

Deno.test({
  name: "deno task sweep --slurm: a job array; a killed task resubmitted ends byte-identical",
  ignore: typeof slurm === "string",
  async fn() {
    if (typeof slurm === "string") return;
    try {
      const env = slurm.env;
      // Uninterrupted.
      const whole = join(dir, "slurm-whole");
      const said = await run(sweep(whole, env, "--slurm", "--wait", "--poll", "0.5"));
      assert.match(said, /submitted job \d+: 2 array task\(s\)/);
      assert.match(said, /ensemble of 2/);
      await checkFolds(whole);
      const script = await Deno.readTextFile(join(whole, "slurm", "sweep.sh"));
      assert.match(script, /^#SBATCH --job-name=sweep-slurm-whole-[0-9a-f]{6}$/m);
      assert.match(script, /mapfile -t args < '.*\/tasks'\/"\$SLURM_ARRAY_TASK_ID\.args"/);

      // Task 1 killed once its first checkpoint is written, then the same command again.
      const cut = join(dir, "slurm-cut");
      const submitted = await run(sweep(cut, env, "--slurm"));
      const job = submitted.match(/submitted job (\d+)/)![1];
      const checkpoints = join(cut, "runs", RUNS[1], "train", "checkpoints");
      const end = Date.now() + 120_000;
      while (!(await Array.fromAsync(Deno.readDir(checkpoints)).catch(() => [])).length) {
        assert.ok(Date.now() < end, "task 1 wrote no checkpoint in two minutes");
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Deno.Command("scancel", { args: [`${job}_1`], env }).output();
      const cleared = Date.now() + 60_000;
      for (;;) {
        const status = await run(command(env, "--status", "--out", cut));
        if (!/pending|running|completing/.test(status)) {
          assert.match(status, new RegExp(`${RUNS[1]}: interrupted`), "killed before it ended");
          break;
        }
        assert.ok(Date.now() < cleared, "the queue did not clear");
        await new Promise((r) => setTimeout(r, 500));
      }
      const resumed = await run(sweep(cut, env, "--slurm", "--wait", "--poll", "0.5"));
      assert.match(resumed, new RegExp(`submitted job \\d+: 1 array task\\(s\\) \\(${RUNS[1]}\\)`));
      const [a, b] = [await results(whole), await results(cut)];
      assert.ok(a.size > 10, `${a.size} result files`);
      assert.deepEqual(b, a, "the resubmitted sweep's files are the uninterrupted one's");

      // Finished: the same command submits nothing.
      const jobs = await Deno.readTextFile(join(cut, "slurm", "jobs.json"));
      assert.match(await run(sweep(cut, env, "--slurm", "--wait")), /all 2 runs finished/);
      assert.equal(await Deno.readTextFile(join(cut, "slurm", "jobs.json")), jobs);
    } finally {
      await slurm.stop();
    }
  },
});
