/**
 * Faults and bad inputs on a run, tried from the command line as a careful tester would: every
 * state file a job reads back is damaged in turn, and the same command must end in one line
 * naming the file, what is wrong and what to do, without rewriting a good file; then the remedy
 * is followed exactly as the line words it, and the same command must succeed. A damaged
 * checkpoint the run does not need is set aside and the run goes on; a start cut short (killed
 * inside a rename, a disk that filled) is taken up by the same command; a failed start leaves
 * nothing behind; operating-system errors are one line too.
 */
import assert from "node:assert/strict";
import { basename, dirname, join } from "node:path";
import { hostname } from "node:os";
import {
  cli,
  deadPid,
  decode,
  makeColourDataset,
  SHARED_MOBILENET,
  smallRun,
  tempDir,
} from "../fixtures.ts";

/** The one line of a refused command (the backend notice and progress lines may come first). */
function errorLine(stderr: string): string {
  assert.ok(!/\bat .*\.ts:\d+|Uncaught/.test(stderr), `no stack trace:\n${stderr}`);
  const errors = stderr.trim().split("\n").filter((l) => l.startsWith("error: "));
  assert.equal(errors.length, 1, `one error line expected, got:\n${stderr}`);
  return errors[0];
}

/** Every file under a folder with its bytes, to show that nothing was rewritten. */
async function files(dir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) { for (const [p, c] of await files(path)) found.set(p, c); }
    else found.set(path, await Deno.readTextFile(path).catch(() => "<binary>"));
  }
  return found;
}

async function copy(from: string, to: string): Promise<void> {
  const status = await new Deno.Command("cp", { args: ["-a", from, to] }).output();
  assert.equal(status.code, 0);
}

/** Cases run two at a time on copies of the finished run (two cores). */
async function inPairs<T>(items: T[], each: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += 2) await Promise.all(items.slice(i, i + 2).map(each));
}

interface Damage {
  name: string;
  damage: (run: string) => Promise<void>;
  /** The error line expected; undefined: the command succeeds with the same submissions. */
  error?: (run: string) => RegExp;
  /** What the error line tells the user to do, done exactly so. */
  remedy?: (run: string, finished: string) => Promise<void>;
  /** After the remedy, the same submissions as the undamaged run (false: it went on from
   * another checkpoint, and must only succeed). */
  same?: boolean;
}

const remove = (...parts: string[]) => Deno.remove(join(...parts), { recursive: true });

const lines = async (file: string) => (await Deno.readTextFile(file)).trimEnd().split("\n");
const write = (file: string, rows: string[]) => Deno.writeTextFile(file, rows.join("\n") + "\n");

const DAMAGES: Damage[] = [
  {
    name: "split.tsv truncated (still a valid table)",
    damage: async (run) => {
      const file = join(run, "train", "split.tsv");
      await write(file, (await lines(file)).slice(0, -3));
    },
    error: (run) =>
      new RegExp(
        `^error: ${run}/train/split\\.tsv: damaged: it lists \\d+ of the dataset's 72 photos ` +
          `\\(first missing: '.*'\\); remove it and run the same command`,
      ),
    remedy: (run) => remove(run, "train", "split.tsv"),
    same: true,
  },
  {
    name: "labels.tsv with two whole rows swapped (the index column says which is which)",
    damage: async (run) => {
      const file = join(run, "train", "labels.tsv");
      const [header, a, b, ...rest] = await lines(file);
      await write(file, [header, b, a, ...rest]);
    },
  },
  {
    name: "labels.tsv with two labels swapped under their indices",
    damage: async (run) => {
      const file = join(run, "train", "labels.tsv");
      const [header, a, b, ...rest] = (await lines(file)).map((l) => l.split("\t"));
      [a[1], b[1]] = [b[1], a[1]];
      await write(file, [header, a, b, ...rest].map((r) => r.join("\t")));
    },
    error: (run) =>
      new RegExp(
        `^error: ${run}/train/labels\\.tsv: damaged: its classes are not the dataset's 3 in ` +
          `order; remove it and run the same command`,
      ),
    remedy: (run) => remove(run, "train", "labels.tsv"),
    same: true,
  },
  {
    name: "metrics.json garbage",
    damage: (run) => Deno.writeTextFile(join(run, "train", "metrics.json"), "[{]"),
    error: (run) =>
      new RegExp(
        `^error: ${run}/train/metrics\\.json: damaged \\(.*\\): restore it, or remove it to ` +
          `resume without the rows of earlier rounds`,
      ),
    remedy: (run) => remove(run, "train", "metrics.json"),
    same: true,
  },
  {
    name: "reproduce.json garbage",
    damage: (run) => Deno.writeTextFile(join(run, "reproduce.json"), "{flip"),
    error: (run) =>
      new RegExp(
        `^error: ${run}/reproduce\\.json: damaged \\(.*\\): it records flip, threshold, ` +
          `transfer; remove it and run the command with the options`,
      ),
    remedy: (run) => remove(run, "reproduce.json"),
    same: true,
  },
  {
    name: "run.json garbage",
    damage: (run) => Deno.writeTextFile(join(run, "train", "run.json"), '{"data":'),
    error: (run) =>
      new RegExp(`^error: ${run}/train/run\\.json: damaged \\(.*\\): restore it from a backup`),
    remedy: (run, finished) =>
      Deno.copyFile(join(finished, "train", "run.json"), join(run, "train", "run.json")),
    same: true,
  },
  {
    name: "the best checkpoint's weights truncated (it is needed: named, with what to do)",
    damage: async (run) => {
      const best = await bestCheckpoint(run);
      const last = (await Array.fromAsync(Deno.readDir(dirname(best)))).map((e) => e.name).sort()
        .at(-1);
      // The last checkpoint would be set aside and remade instead: this case needs a run whose
      // best round came before its last (SEED's does: its first round already scores 1.0).
      assert.notEqual(basename(best), last, "the best checkpoint is not the last");
      const weights = join(best, "weights.bin");
      await Deno.truncate(weights, (await Deno.stat(weights)).size - 100);
    },
    error: (run) =>
      new RegExp(
        `^error: ${run}/train/checkpoints/round\\d\\d-[^/]+/weights\\.bin: truncated or ` +
          `damaged: \\d+ bytes, its specs need \\d+; it is this job's best checkpoint: restore ` +
          `it from a backup, or remove ${run}/train/checkpoints/round\\d\\d-[^ ]+ together ` +
          `with ${run}/transfer and ${run}/submissions \\(made from it\\), and the same command ` +
          `goes on from the next best$`,
      ),
    remedy: async (run) => {
      await remove(await bestCheckpoint(run));
      await remove(run, "transfer");
      await remove(run, "submissions");
    },
    same: false,
  },
];

/** The seed of every run here: its best round is not its last (see the case that needs it). */
const SEED = ["--seed", "1"];

/** The train/ checkpoint with weights that the transfer started from (named in its run.json). */
async function bestCheckpoint(run: string): Promise<string> {
  const transfer = JSON.parse(await Deno.readTextFile(join(run, "transfer", "run.json")));
  return join(run, "train", "checkpoints", transfer.identity.settings.init);
}

Deno.test("damaged state files: one line naming the file and what to do, nothing good rewritten", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeColourDataset(data);
  const finished = join(dir, "finished");
  const first = await smallRun("reproduce", data, finished, cache, ...SEED).output();
  assert.equal(first.code, 0, decode(first.stderr).slice(-2000));
  const submissions = await files(join(finished, "submissions"));

  // Each case on a copy of the job as a kill at its very end leaves it (no summary.json yet), so
  // that the same command reads back every state file.
  await inPairs(DAMAGES, async ({ name, damage, error, remedy, same }) => {
    const run = join(dir, name.replace(/\W+/g, "-"));
    await copy(finished, run);
    await remove(run, "summary.json");
    await damage(run);
    const before = await files(run);
    const out = await smallRun("reproduce", data, run, cache, ...SEED).output();
    const stderr = decode(out.stderr);
    if (error) {
      assert.equal(out.code, 2, `${name}:\n${stderr}`);
      assert.match(errorLine(stderr), error(run), name);
      assert.deepEqual(await files(run), before, `${name}: no file rewritten`);
      assert.ok(remedy, `${name}: every refusal names a remedy, and the test follows it`);
      await remedy(run, finished);
      const again = await smallRun("reproduce", data, run, cache, ...SEED).output();
      assert.equal(again.code, 0, `${name}, after its remedy:\n${decode(again.stderr)}`);
      if (!same) return;
    } else {
      assert.equal(out.code, 0, `${name}:\n${stderr}`);
    }
    const after = await files(join(run, "submissions"));
    for (const [path, text] of submissions) {
      assert.equal(after.get(path.replace(finished, run)), text, `${name}: ${path}`);
    }
  });

  // Its record removed, a job's parts still say what it was made with: other options are refused
  // (the summary's record, then the transfer's, named), and nothing is rewritten.
  const recorded = join(dir, "reproduce-json-garbage");
  for (const evidence of ["summary.json", "transfer/run.json"]) {
    await remove(recorded, "reproduce.json").catch(() => {}); // gone after the first refusal
    if (evidence !== "summary.json") await remove(recorded, "summary.json");
    const kept = await files(recorded);
    const other = await smallRun("reproduce", data, recorded, cache, ...SEED, "--no-flip")
      .output();
    assert.equal(other.code, 2, decode(other.stderr));
    assert.match(
      errorLine(decode(other.stderr)),
      new RegExp(
        `^error: ${recorded}/${evidence}: flip: this run folder was made with true, the ` +
          "command asks false; run it with the options it was made with",
      ),
    );
    assert.deepEqual(await files(recorded), kept, "nothing rewritten");
  }

  // The checkpoint a resume would start from is damaged: set aside, kept, and the run goes back
  // to the one before; the finished transfer ends with the same files.
  const resumed = join(dir, "latest-damaged");
  await copy(finished, resumed);
  await remove(resumed, "summary.json");
  const checkpoints = join(resumed, "transfer", "checkpoints");
  const names = (await Array.fromAsync(Deno.readDir(checkpoints))).map((e) => e.name).sort();
  await Deno.truncate(join(checkpoints, names.at(-1)!, "weights.bin"), 1000);
  const out = await smallRun("reproduce", data, resumed, cache, ...SEED).output();
  const log = decode(out.stderr);
  assert.equal(out.code, 0, log);
  assert.match(
    log,
    /weights\.bin: truncated or damaged: 1000 bytes, its specs need \d+: set aside as/,
  );
  assert.ok(await Deno.stat(join(checkpoints, `damaged-${names.at(-1)}`)), "kept for a look");
  const after = await files(join(resumed, "submissions"));
  for (const [path, text] of submissions) {
    assert.equal(after.get(path.replace(finished, resumed)), text, path);
  }

  // predict on a run whose model is damaged: the same one line.
  const broken = join(dir, "broken-model");
  await copy(finished, broken);
  await DAMAGES.find((d) => d.name.startsWith("the best checkpoint"))!.damage(broken);
  const predicted = await cli("predict", "--run", join(broken, "train"), data).output();
  assert.equal(predicted.code, 2);
  assert.match(errorLine(decode(predicted.stderr)), /weights\.bin: truncated or damaged/);
  await Deno.remove(dir, { recursive: true });
});

/**
 * Starts cut short, as a kill inside a rename or a full disk leaves them: the folder holds only
 * the project's own partial initialisation (a dead process's lock, a `.tmp-PID` file, an empty
 * `checkpoints/`). The same command takes it up and ends with the same files.
 */
const CUT_SHORT: { name: string; make: (run: string, finished: string) => Promise<void> }[] = [
  {
    name: "killed inside the rename of reproduce.json",
    make: async (run) => {
      await Deno.mkdir(run);
      await Deno.writeTextFile(join(run, `reproduce.json.tmp-${await deadPid()}`), "{}");
      await staleLock(run);
    },
  },
  {
    name: "killed inside the rename of train/run.json",
    make: async (run, finished) => {
      await Deno.mkdir(join(run, "train", "checkpoints"), { recursive: true });
      await Deno.copyFile(join(finished, "reproduce.json"), join(run, "reproduce.json"));
      const config = await Deno.readTextFile(join(finished, "train", "run.json"));
      await Deno.writeTextFile(join(run, "train", `run.json.tmp-${await deadPid()}`), config);
      await staleLock(join(run, "train"));
    },
  },
  {
    name: "disk full while train/run.json was written, then space freed",
    make: async (run, finished) => {
      await Deno.mkdir(join(run, "train", "checkpoints"), { recursive: true });
      await Deno.copyFile(join(finished, "reproduce.json"), join(run, "reproduce.json"));
      await Deno.writeTextFile(join(run, "train", `run.json.tmp-${await deadPid()}`), '{"da');
    },
  },
  {
    name: "killed inside the rename of transfer/run.json, stages 1-3 done",
    make: async (run, finished) => {
      await copy(finished, run);
      for (const part of ["transfer", "submissions", "summary.json"]) await remove(run, part);
      await Deno.mkdir(join(run, "transfer", "checkpoints"), { recursive: true });
      const config = await Deno.readTextFile(join(finished, "transfer", "run.json"));
      await Deno.writeTextFile(join(run, "transfer", `run.json.tmp-${await deadPid()}`), config);
      await staleLock(join(run, "transfer"));
    },
  },
];

/** A lock left by a process that is gone (killed with -9). */
async function staleLock(dir: string): Promise<void> {
  const holder = { pid: await deadPid(), host: hostname(), started: new Date().toISOString() };
  await Deno.writeTextFile(join(dir, ".lock"), JSON.stringify(holder));
}

Deno.test("starts cut short (a kill inside a rename, a full disk) are taken up by the same command", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeColourDataset(data);
  const finished = join(dir, "finished");
  const first = await smallRun("reproduce", data, finished, cache, ...SEED).output();
  assert.equal(first.code, 0, decode(first.stderr).slice(-2000));
  const submissions = await files(join(finished, "submissions"));
  await inPairs(CUT_SHORT, async ({ name, make }) => {
    const run = join(dir, name.replace(/\W+/g, "-"));
    await make(run, finished);
    const out = await smallRun("reproduce", data, run, cache, ...SEED).output();
    assert.equal(out.code, 0, `${name}:\n${decode(out.stderr)}`);
    const after = await files(join(run, "submissions"));
    for (const [path, text] of submissions) {
      assert.equal(after.get(path.replace(finished, run)), text, `${name}: ${path}`);
    }
  });
  // Anything else in the folder is still a stranger's: refused, untouched.
  const foreign = join(dir, "foreign");
  await Deno.mkdir(join(foreign, "checkpoints"), { recursive: true });
  await Deno.writeTextFile(join(foreign, "checkpoints", "notes.txt"), "mine");
  const refused = await smallRun("reproduce", data, foreign, cache, ...SEED).output();
  assert.equal(refused.code, 2);
  assert.match(errorLine(decode(refused.stderr)), /not empty and not a reproduce run folder/);
  assert.equal(await Deno.readTextFile(join(foreign, "checkpoints", "notes.txt")), "mine");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("failed starts: bad weights or data leave no file behind; the corrected command runs", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeColourDataset(data);
  const notWeights = join(dir, "photo.h5");
  await Deno.copyFile(join(data, "class0", "p0_0.jpg"), notWeights);
  for (const script of ["train", "reproduce"]) {
    const out = join(dir, `${script}-run`);
    for (
      const [args, expected] of [
        [["--weights", notWeights], new RegExp(`^error: ${notWeights}: `)],
        [
          ["--data", join(dir, "nowhere")],
          new RegExp(`^error: ${dir}/nowhere: directory not found`),
        ],
      ] as const
    ) {
      const command = cli(
        script,
        "--small",
        "--data",
        data,
        "--out",
        out,
        "--cache-dir",
        cache,
        "--weights",
        SHARED_MOBILENET,
        ...args,
      );
      const refused = await command.output();
      assert.equal(refused.code, 2, decode(refused.stderr));
      assert.match(errorLine(decode(refused.stderr)), expected);
      assert.equal(await Deno.stat(out).catch(() => undefined), undefined, `${script}: nothing`);
    }
  }
  // The folder given is a file: one line, nothing else.
  const file = join(dir, "a-file");
  await Deno.writeTextFile(file, "mine");
  const onFile = await smallRun("train", data, file, cache).output();
  assert.equal(onFile.code, 2);
  assert.equal(
    errorLine(decode(onFile.stderr)),
    `error: ${file}: not a folder: the run folder (--out) must be a folder or not exist`,
  );
  assert.equal(await Deno.readTextFile(file), "mine");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("operating-system errors: one line with the path and the reason, exit 1", async () => {
  const fixture = new URL("../fixtures/os_error.ts", import.meta.url).pathname;
  for (
    const [what, expected] of [
      ["full", "error: No space left on device: writefile '/dev/full'"],
      ["notdir", "error: Not a directory: mkdir '/dev/null/run'"],
    ]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fixture, what],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 1);
    assert.equal(decode(out.stderr).trim(), expected);
  }
});

Deno.test("score and ensemble: another label set is named, an ensemble never writes into a run", async () => {
  const dir = await tempDir();
  const submission = join(dir, "submission.txt");
  const answers = join(dir, "answers.tsv");
  await Deno.writeTextFile(submission, "3\ta\n7\tb\n");
  await Deno.writeTextFile(answers, "id\tlabel\na\tn02086240\nb\tn02087394\n");
  const scored = await cli("score", "--submission", submission, "--answers", answers).output();
  assert.equal(scored.code, 2);
  assert.equal(
    errorLine(decode(scored.stderr)),
    `error: ${submission}: none of its labels ('3', '7', ...) is a label of ${answers} ` +
      `('n02086240', 'n02087394', ...): the two files use different label sets`,
  );
  const run = join(dir, "run");
  const ensemble = await cli(
    "ensemble",
    "--runs",
    run,
    join(dir, "other"),
    "--out",
    join(run, "submissions"),
  ).output();
  assert.equal(ensemble.code, 2);
  assert.match(
    errorLine(decode(ensemble.stderr)),
    new RegExp(`^error: --out ${run}/submissions is inside the run folder ${run}: its own`),
  );
  await Deno.remove(dir, { recursive: true });
});
