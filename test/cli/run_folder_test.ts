/**
 * A run folder is a contract, tried as a user would from the command line: another dataset on
 * a finished run's folder is refused before anything is written; a photo deleted from the dataset
 * is named, never re-split; a second process on a folder is refused; a competition-layout run
 * answers every test photo, unreadable ones included; leftovers of killed runs are cleaned.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readRows } from "@/data/table.ts";
import {
  cli,
  deadPid,
  decode,
  makeColourDataset,
  makeCompetitionDataset,
  SHARED_IMAGEWOOF,
  smallRun,
  tempDir,
} from "../fixtures.ts";

/** Every file under a folder with its contents: what "nothing was written" compares. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) {
      for (const [p, c] of await snapshot(path)) files.set(p, c);
    } else files.set(path, await Deno.readTextFile(path).catch(() => "<binary>"));
  }
  return files;
}

/** The error line of a refused command (the backend notice may come first). */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split("\n").filter((l) => !l.startsWith("[tfjs]"));
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.ok(!/\bat .*\.ts:\d+/.test(stderr), "no stack trace");
  return lines[0];
}

Deno.test("run folder: other data is refused before anything is written; a lost photo is named", async () => {
  const dir = await tempDir();
  const a = join(dir, "A");
  const cache = join(dir, "cache");
  await makeColourDataset(a);
  // A decode killed earlier left its partial cache file behind.
  await Deno.mkdir(cache, { recursive: true });
  const leftover = join(cache, `224px-nearest-x.rgb.tmp-${await deadPid()}`);
  await Deno.writeTextFile(leftover, "partial");
  const out = join(dir, "run");
  const first = await smallRun("train", a, out, cache).output();
  assert.equal(first.code, 0, decode(first.stderr).slice(-2000));
  assert.equal(await Deno.stat(leftover).catch(() => undefined), undefined, "leftover removed");
  const finished = await snapshot(out);

  // B: two of A's three classes (its photos are A's); C: three classes, other photos.
  const b = join(dir, "B");
  for (const c of ["class0", "class1"]) {
    await Deno.mkdir(join(b, c), { recursive: true });
    for await (const f of Deno.readDir(join(a, c))) {
      await Deno.copyFile(join(a, c, f.name), join(b, c, f.name));
    }
  }
  const c = join(dir, "C");
  await makeColourDataset(c);
  await Deno.rename(join(c, "class2"), join(c, "class9"));
  for (const other of [b, c]) {
    const refused = await smallRun("train", other, out, cache).output();
    assert.equal(refused.code, 2);
    assert.equal(
      errorLine(decode(refused.stderr)),
      `error: ${out}/run.json: dataset root: this run folder has "${a}", the command asks ` +
        `"${other}"; start it in another folder (--out)`,
    );
    assert.deepEqual(await snapshot(out), finished, "the finished run is untouched");
  }

  // A photo of the run deleted from the dataset: named, and no new split.
  const lost = join(a, "class1", "p1_3.jpg");
  await Deno.remove(lost);
  const resumed = await smallRun("train", a, out, cache).output();
  assert.equal(resumed.code, 2);
  assert.match(
    errorLine(decode(resumed.stderr)),
    new RegExp(`1 photo\\(s\\) of this run are gone from the dataset: ${lost} `),
  );
  assert.deepEqual(await snapshot(out), finished);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run folder: a second process on the same folder is refused while the first runs", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeColourDataset(data);
  const out = join(dir, "run");
  const first = smallRun("train", data, out, cache).spawn();
  const lock = join(out, ".lock");
  const deadline = Date.now() + 60_000;
  while (!(await Deno.stat(lock).catch(() => undefined)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const second = await smallRun("train", data, out, cache).output();
  const firstDone = await first.output();
  assert.equal(firstDone.code, 0, decode(firstDone.stderr).slice(-2000));
  assert.equal(second.code, 2);
  assert.match(
    errorLine(decode(second.stderr)),
    new RegExp(`^error: ${lock}: in use by process ${first.pid} on .* since .*; wait for it`),
  );
  assert.equal(await Deno.stat(lock).catch(() => undefined), undefined, "lock released");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("competition layout: every test photo answered, unreadable ones with the fallback", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeCompetitionDataset(data, { labels: ["2", "17", "133"], perClass: 16, test: 9 });
  // Four of the nine test files cannot be decoded: one empty, one not a JPEG at all, two real
  // photos cut short (`head -c 500`: the decoder's message runs over several lines).
  await Deno.writeFile(join(data, "test", "q5.jpg"), new Uint8Array());
  await Deno.writeTextFile(join(data, "test", "q6.jpg"), "not a photo");
  const real = join(SHARED_IMAGEWOOF, "n02088364");
  const photo = await Deno.readFile(
    join(real, (await Array.fromAsync(Deno.readDir(real))).map((e) => e.name).sort()[0]),
  );
  await Deno.writeFile(join(data, "test", "q7.jpg"), photo.subarray(0, 500));
  await Deno.writeFile(join(data, "test", "q8.jpg"), photo.subarray(0, 2000));
  // The most frequent class is the fallback: make it "17".
  for (let i = 0; i < 6; i++) {
    await Deno.copyFile(join(data, "train", "t17_0.jpg"), join(data, "train", `x17_${i}.jpg`));
  }
  await Deno.writeTextFile(
    join(data, "train.txt"),
    (await Deno.readTextFile(join(data, "train.txt"))) +
      Array.from({ length: 6 }, (_, i) => `x17_${i}.jpg 17\n`).join(""),
  );
  const out = join(dir, "run");
  const run = await smallRun("reproduce", data, out, cache).output();
  const log = decode(run.stderr);
  assert.equal(run.code, 0, log.slice(-3000));
  assert.match(log, /skipped 4 unusable photo\(s\) \(full list: .*train\/skipped\.tsv\):/);
  assert.match(log, /4 test photo\(s\) could not be read/);
  const skipped = await readRows(join(out, "train", "skipped.tsv"), { delimiter: "\t" });
  assert.deepEqual(skipped.slice(1).map((r) => r[0].split("/").at(-1)).sort(), [
    "q5.jpg",
    "q6.jpg",
    "q7.jpg",
    "q8.jpg",
  ]);
  // The label map keeps the dataset's own (numeric) ids, in numeric order, through the split.
  const labelRows = await readRows(join(out, "train", "labels.tsv"), { delimiter: "\t" });
  assert.deepEqual(labelRows.slice(1).map((r) => [r[0], r[1]]), [["0", "2"], ["1", "17"], [
    "2",
    "133",
  ]]);
  const splitRows = await readRows(join(out, "train", "split.tsv"), { delimiter: "\t" });
  const trainLabels = new Set(splitRows.slice(1).filter((r) => r[3] === "train").map((r) => r[2]));
  assert.deepEqual([...trainLabels].sort(), ["133", "17", "2"]);
  const ids = Array.from({ length: 9 }, (_, i) => `q${i}`);
  for (const folder of ["submissions/before-transfer", "submissions"]) {
    for (const head of ["main", "aux", "blend"]) {
      const rows = await readRows(join(out, folder, `submission_${head}.txt`), { delimiter: "\t" });
      assert.deepEqual(rows.map((r) => r[1]), ids, `${folder} ${head}: every test id, in order`);
      assert.ok(rows.every((r) => ["2", "17", "133"].includes(r[0])), "the dataset's own ids");
      assert.deepEqual(rows.slice(5).map((r) => r[0]), ["17", "17", "17", "17"], "fallback");
    }
  }
  // Its test photos come unlabelled: score says so instead of "no answers".
  const score = await cli(
    "score",
    "--submission",
    join(out, "submissions", "submission_blend.txt"),
    "--answers",
    join(out, "train", "test_answers.tsv"),
  ).output();
  assert.equal(score.code, 2);
  assert.match(
    errorLine(decode(score.stderr)),
    /test_answers\.tsv: holds no answers: a run on the competition layout knows no test labels/,
  );
  // Numeric labels have no breed name: shown once, not as "17 (17)".
  const predicted = await cli("predict", "--run", out, join(data, "test", "q0.jpg")).output();
  assert.equal(predicted.code, 0, decode(predicted.stderr));
  assert.match(decode(predicted.stdout), /q0\.jpg: (2|17|133) [\d.]+%, (2|17|133) [\d.]+%, /);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("competition layout without test photos: refused before training", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  await makeCompetitionDataset(data, { perClass: 3, test: 0 });
  const out = join(dir, "run");
  const run = await smallRun("reproduce", data, out, join(dir, "cache")).output();
  assert.equal(run.code, 2);
  assert.equal(
    errorLine(decode(run.stderr)),
    `error: ${data}/test: no test photos: the competition layout needs test/<image_id>.jpg to predict`,
  );
  assert.equal(
    await Deno.stat(join(out, "train", "checkpoints")).catch(() => undefined),
    undefined,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("options: bad values are one line naming the option, --help everywhere", async () => {
  const cases: [string, string[], RegExp][] = [
    ["train", ["--seed", "abc"], /^error: --seed 'abc': expected a whole number$/],
    [
      "reproduce",
      ["--val-fraction", "2"],
      /^error: --val-fraction '2': expected a number in \(0, 1\)$/,
    ],
    ["reproduce", ["--threshold", "x"], /^error: --threshold 'x': expected a number in \[0, 1\]$/],
    [
      "train",
      ["--preset", "huge"],
      /^error: --preset: unknown preset 'huge' \(seed, cpu, quick\)$/,
    ],
    ["train", ["--bogus"], /^error: Unknown option '--bogus'.* \(see --help\)$/],
    ["score", ["--submission", "x.txt"], /^error: --submission and --answers are both needed/],
    ["predict", ["photo.jpg"], /^error: --run DIR is needed \(see --help\)$/],
    ["predict", ["--run", "/nonexistent", "--top", "0", "x.jpg"], /^error: --top '0': expected/],
    [
      "export",
      ["--run", "/nonexistent", "--out", "/tmp/x"],
      /^error: \/nonexistent: no such folder: --run names a run folder$/,
    ],
    ["predict", ["--bogus", "x.jpg"], /^error: Unknown option '--bogus' \(see --help\)$/],
    [
      "train",
      ["--schedule", "linear"],
      /^error: --schedule 'linear': expected constant \| cosine \| one-cycle$/,
    ],
    ["reproduce", ["--lr", "0"], /^error: --lr '0': '0' is not a learning rate in \(0, 10\)$/],
    [
      "train",
      ["--rounds", "2,,3"],
      /^error: --rounds '2,,3': expected numbers separated by commas$/,
    ],
    ["train", ["--batch-size", "31"], /^error: --batch-size '31': expected an even number/],
    [
      "reproduce",
      ["--backbone", "resnet"],
      /^error: --backbone 'resnet': expected mobilenet_v2 \| xception$/,
    ],
    ["train", ["--mixup", "-1"], /^error: --mixup '-1': expected a number in \[0, 100\]$/],
    ["presets", ["huge"], /^error: unknown preset 'huge' \(seed, cpu, quick\)$/],
    ["ensemble", ["--runs", "a", "./a", "--out", "x"], /^error: --runs names \.\/a twice: /],
    ["ensemble", ["--runs", "a", "--out", "x"], /^error: --runs needs two run folders or more/],
    [
      "ensemble",
      ["--runs", "/nonexistent", "/nonexistent2", "--out", "x"],
      /no probabilities\.tsv/,
    ],
  ];
  for (const [script, args, expected] of cases) {
    const out = await cli(script, ...args).output();
    assert.equal(out.code, 2, `${script} ${args.join(" ")}: ${decode(out.stderr)}`);
    assert.match(errorLine(decode(out.stderr)), expected);
  }
  for (const script of ["train", "reproduce", "score", "predict", "export", "ensemble"]) {
    const help = await cli(script, "--help").output();
    assert.equal(help.code, 0);
    assert.match(decode(help.stdout), new RegExp(`^Usage: deno task ${script}`));
  }
  // A negative seed gets past the options (test/cli/options_test.ts reads it back as a seed).
  const negative = await cli("train", "--seed", "-1", "--data", "/nonexistent").output();
  assert.equal(errorLine(decode(negative.stderr)), "error: /nonexistent: directory not found");
});
