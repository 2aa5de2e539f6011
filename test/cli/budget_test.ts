/**
 * `--minutes` from the command line: a whole job under a budget leaves a complete folder whose
 * preset records the plan and whose transfer was fitted to the time left; the same command again
 * keeps the plan instead of planning anew, and bad budgets are one line naming the option.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { jobFiles, runFiles } from "@/layout.ts";
import { readRunConfig } from "@/run/config.ts";
import { parseRunArgs, runInputs } from "@/cli/run_args.ts";
import { UsageError } from "@/errors.ts";
import { sha256Hex } from "@/files.ts";
import { linkSubset } from "@/data/subset.ts";
import {
  cli,
  decode,
  makeColourDataset,
  SHARED_IMAGEWOOF,
  SHARED_MOBILENET,
  tempDir,
} from "../fixtures.ts";

Deno.test("--minutes: a job planned to its budget, its transfer fitted, the plan kept on a re-run", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  await makeColourDataset(data);
  const out = join(dir, "job");
  const command = () =>
    cli(
      "reproduce",
      "--minutes",
      "0.6",
      "--data",
      data,
      "--out",
      out,
      "--cache-dir",
      join(dir, "cache"),
      "--weights",
      SHARED_MOBILENET,
    ).output();
  const first = await command();
  const stderr = decode(first.stderr);
  assert.equal(first.code, 0, stderr.slice(-2000));
  assert.match(stderr, /--minutes 0.6: \d+ augmented batches per policy/);
  assert.match(stderr, /the transfer gets \d+\/\d+\/\d+ steps per round/);

  const config = await readRunConfig(jobFiles(out).train);
  assert.equal(config.preset.name, "cpu-0.6min");
  const plan = config.preset.budget!;
  assert.equal(plan.minutes, 0.6);
  assert.ok(plan.scale > 0 && plan.seconds <= 36, JSON.stringify(plan));
  const fit = JSON.parse(await Deno.readTextFile(jobFiles(out).transferFit));
  // The transfer ran the fitted steps, and the job wrote everything a job writes.
  const transfer = await readRunConfig(jobFiles(out).transfer);
  assert.equal(transfer.identity.settings.stages, sha256Hex(JSON.stringify(fit.stages), 16));
  const rounds = JSON.parse(await Deno.readTextFile(runFiles(jobFiles(out).transfer).history));
  assert.equal(
    rounds.length,
    fit.stages.reduce((n: number, s: { rounds: number }) => n + s.rounds, 0),
  );
  const summary = JSON.parse(await Deno.readTextFile(jobFiles(out).summary));
  assert.deepEqual(summary.budget, plan);
  for (const file of Object.values(summary.after) as string[]) await Deno.stat(file);

  // The same command: the plan is the folder's, not planned again on this moment's speed.
  const again = await command();
  assert.equal(again.code, 0, decode(again.stderr).slice(-2000));
  assert.match(decode(again.stderr), /the plan .* was started with/);
  assert.deepEqual((await readRunConfig(jobFiles(out).train)).preset, config.preset);
});

Deno.test("--minutes: bad budgets are one line naming the option", async () => {
  for (
    const [args, message] of [
      [["--minutes", "0"], /--minutes 0: expected a budget above 0/],
      [["--minutes", "soon"], /--minutes 'soon': expected a number/],
      [["--minutes", "5", "--small"], /--minutes and --small: choose one/],
    ] as const
  ) {
    const values = parseRunArgs("help", {}, [...args, "--data", SHARED_IMAGEWOOF]);
    await assert.rejects(
      () => runInputs(values),
      (e: Error) => e instanceof UsageError && message.test(e.message),
    );
  }
});

Deno.test("--minutes on a machine that gets busy after the plan: train still ends in its budget", async () => {
  // Once the plan is made (its probe read the machine idle), busy loops take half of the cores,
  // as on a laptop where other work starts: the run keeps a slower pace than its plan expects.
  // `train` has no transfer to absorb it: the stages' refit at their boundaries does.
  const dir = await tempDir();
  const data = join(dir, "woof");
  const classes = [...Deno.readDirSync(SHARED_IMAGEWOOF)].map((e) => e.name).sort();
  await linkSubset(SHARED_IMAGEWOOF, data, { classes, perClass: 60 });
  const budget = 45;
  const started = performance.now();
  const job = cli(
    "train",
    ...["--minutes", String(budget / 60), "--data", data, "--out", join(dir, "job")],
    ...["--cache-dir", join(dir, "cache"), "--weights", SHARED_MOBILENET],
  ).spawn();
  const stdout = new Response(job.stdout).text();
  let log = "";
  const hogs: Deno.ChildProcess[] = [];
  try {
    for await (const text of job.stderr.pipeThrough(new TextDecoderStream())) {
      log += text;
      if (!hogs.length && /--minutes 0\.75: \d+ augmented batches .* estimated/.test(log)) {
        for (let i = 0; i < Math.max(1, navigator.hardwareConcurrency >> 1); i++) {
          hogs.push(new Deno.Command("sh", { args: ["-c", "while :; do :; done"] }).spawn());
        }
      }
    }
  } finally {
    for (const hog of hogs) {
      hog.kill("SIGKILL");
      await hog.status;
    }
  }
  const { code } = await job.status;
  const wall = (performance.now() - started) / 1000;
  assert.equal(code, 0, log.slice(-2000));
  assert.ok(hogs.length, "the plan was made, then the machine got busy");
  const lines = log.split("\n").filter((l) => !/[█░]/.test(l)).join("\n");
  assert.ok(wall <= 1.15 * budget, `${wall.toFixed(1)} s for a budget of ${budget} s:\n${lines}`);
  assert.ok(wall >= 0.4 * budget, `${wall.toFixed(1)} s: the budget was mostly left unused`);
  assert.match(await stdout, /--minutes 0\.75: \d\d:\d\d, \d+% of the budget/);
  await Deno.remove(dir, { recursive: true });
});
