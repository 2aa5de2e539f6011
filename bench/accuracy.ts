/**
 * Accuracy against wall time, ours beside a plain PyTorch fine-tune of the same ImageNet weights
 * (bench/torch_finetune.py), on the same split, the same test part and the same cores.
 *
 * Ours: the main job (`deno task reproduce`, the `cpu` preset) with `--minutes B` for each budget
 * B, seed 0, each process timed from start to end from a fresh decoded-photo cache. PyTorch: one
 * run per budget, its cosine schedule fitted to that budget, the clock counting decoding, training
 * and the test predictions. PyTorch predicts as ours did: with flip test-time augmentation when
 * our jobs used it (the `cpu` preset does), its plain accuracy read from the same run. Both are
 * scored on the carved-off test part (never trained or tuned on). Before anything is measured,
 * the PyTorch network's pooled features are checked against the project's on the same photos.
 *
 *   deno task bench:accuracy [--budgets 3,5,8,10] [--out DIR] [--python /usr/bin/python3]
 */
import { join } from "node:path";
import { checkIdle, describeIdle, watchOthers } from "./idle.ts";
import {
  benchArgs,
  count,
  ensureTorch,
  run,
  samplePhotos,
  taskArgs,
  type Torch,
} from "./common.ts";
import { defaultDataset, defaultWeights, fromRoot } from "../lib/paths.ts";
import { jobFiles, runFiles } from "../lib/layout.ts";
import { type AccuracyBench, type AccuracyPoint, readAccuracyBench } from "../lib/plot/budget.ts";
import { initBackend, tf } from "../lib/engine/tf.ts";
import { buildBackbone } from "../lib/model/index.ts";
import { loadPretrained } from "../lib/model/pretrained.ts";
import { loadImage } from "../lib/data/image.ts";

const HELP =
  `Usage: deno task bench:accuracy [--budgets 3,5,8,10] [--seed N] [--out DIR] [--python PATH]

Test-part accuracy against wall time: the main job under --minutes B for each budget B, beside a
plain PyTorch fine-tune of the same weights on the same split and cores (bench/torch_finetune.py).
Writes bench/accuracy.json. Takes about the sum of the budgets, twice.

  --budgets LIST  minutes, comma-separated (default 3,5,8,10)
  --seed N        both sides' training seed (default 0); the split stays seed 0's, so every
                  seed is scored on the same test part
  --out DIR       where the runs go (default a fresh temporary folder)
  --python PATH   the Python with PyTorch (default /usr/bin/python3; a venv with tcmalloc is
                  set up from it when needed)
  --mean A,B      no runs: average sittings' accuracy.json files (one per --seed) point by
                  point into bench/accuracy.json, the figure's data`;

const { values } = benchArgs(HELP, {
  budgets: { type: "string", default: "3,5,8,10" },
  out: { type: "string" },
  python: { type: "string", default: "/usr/bin/python3" },
  seed: { type: "string", default: "0" },
  mean: { type: "string" },
});
if (values.mean) {
  const written = await writeMean(values.mean.split(","), fromRoot("bench", "accuracy.json"));
  console.log(`written: ${written}`);
  Deno.exit(0);
}
const seed = count("seed", values.seed, 0);
const budgets = values.budgets.split(",").map((b) => {
  const minutes = Number(b);
  if (!(minutes > 0 && minutes <= 600)) {
    console.error(`error: --budgets '${values.budgets}': expected minutes above 0, like 3,5,10`);
    Deno.exit(2);
  }
  return minutes;
});
const out = values.out ?? await Deno.makeTempDir({ prefix: "bench-accuracy-" });
const python = await ensureTorch(values.python);
if (!python) throw new Error("bench:accuracy needs PyTorch (see bench/torch_finetune.py)");
await checkNetworks(python);

const idleBefore = await checkIdle();
const others = await watchOthers();
const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1];

interface Point {
  what: string;
  minutes: number;
  accuracy: number;
  /** Accuracy before the transfer (ours). */
  before?: number;
  /** PyTorch's accuracy without flip test-time augmentation, where `accuracy` has it. */
  plain?: number;
}
// Ours at each budget: the main job under `--minutes`, each from a cold decoded-photo cache (as
// PyTorch decodes its photos inside its clock), the process timed from start to end.
const ours: Point[] = [];
const dirs: string[] = [];
// Whether our jobs predicted with flip (the cpu preset's default): PyTorch then does too.
let flip = false;
for (const minutes of budgets) {
  const dir = join(out, `ours-${minutes}min`);
  const seconds = await timedTask("reproduce", [
    "--data",
    defaultDataset(),
    "--weights",
    defaultWeights(),
    "--out",
    dir,
    "--minutes",
    String(minutes),
    "--seed",
    String(seed),
    "--split-seed",
    "0",
    "--cache-dir",
    join(out, `cache-${minutes}min`),
  ]);
  dirs.push(dir);
  const summary = JSON.parse(await Deno.readTextFile(jobFiles(dir).summary));
  flip = summary.settings.flip;
  ours.push({
    what: `ours, --minutes ${minutes} (scale ${summary.budget.scale})`,
    minutes: seconds / 60,
    accuracy: summary.scores.after.blend,
    before: summary.scores.before.blend,
  });
}

const split = runFiles(jobFiles(dirs[0]).train);
// PyTorch predicts as ours did, the flip's time inside its budget; its plain accuracy comes from
// the same run.
const torch: Point[] = [];
for (const minutes of budgets) {
  const r = await run(python.python, [
    "bench/torch_finetune.py",
    "--split",
    split.split,
    "--answers",
    split.testAnswers,
    "--weights",
    defaultWeights(),
    "--minutes",
    String(minutes),
    "--threads",
    String(navigator.hardwareConcurrency || 1),
    "--seed",
    String(seed),
    ...(flip ? ["--flip"] : []),
  ], python.env);
  if (!r.ok) throw new Error(`torch_finetune.py failed:\n${r.out}`);
  const row = JSON.parse(r.out.split("\n").filter((l) => l.startsWith("{")).at(-1)!);
  torch.push({
    what: `PyTorch, ${minutes} min budget (${row.epochs} epochs)${flip ? ", flip TTA" : ""}`,
    minutes: row.seconds / 60,
    accuracy: row.accuracy,
    ...(flip ? { plain: row.plainAccuracy } : {}),
  });
}

const idle = describeIdle(idleBefore, await others.stop());
const percent = (x: number) => `${(100 * x).toFixed(2)}%`;
console.log(`\nmachine: ${cpu}, ${navigator.hardwareConcurrency} cores; ${idle.line}`);
console.log(`runs in ${out}; test part: ${split.testAnswers}\n`);
console.log("| what | wall time | test-part accuracy |\n|---|---|---|");
for (const p of [...ours, ...torch]) {
  const before = p.before !== undefined
    ? ` (${percent(p.before)} before transfer)`
    : p.plain !== undefined
    ? ` (${percent(p.plain)} without flip)`
    : "";
  console.log(`| ${p.what} | ${p.minutes.toFixed(2)} min | ${percent(p.accuracy)}${before} |`);
}
const points = (x: number) => `${(100 * x).toFixed(2)} points`;
console.log(
  `\n| budget | PyTorch reference${
    flip ? " (flip TTA)" : ""
  } | ours (--minutes) | ours' wall time ` +
    `| difference |${flip ? " PyTorch without flip | difference |" : ""}`,
);
console.log(`|---|---|---|---|---|${flip ? "---|---|" : ""}`);
for (const [i, minutes] of budgets.entries()) {
  const [theirs, mine] = [torch[i], ours[i]];
  const plain = theirs.plain === undefined
    ? ""
    : ` ${percent(theirs.plain)} | ${points(mine.accuracy - theirs.plain)} |`;
  console.log(
    `| ${minutes} min | ${percent(theirs.accuracy)} | ${percent(mine.accuracy)} | ` +
      `${mine.minutes.toFixed(2)} min (${(100 * mine.minutes / minutes).toFixed(0)}%) | ` +
      `${points(mine.accuracy - theirs.accuracy)} |${plain}`,
  );
}
if (!idle.valid) console.log("\n(the machine was not idle: times above are not comparable)");
// The figure's data (notebook 05 draws bench/accuracy.json; commit it with RESULTS.md).
const result = {
  ours,
  torch,
  machine: `${cpu}, ${navigator.hardwareConcurrency} cores`,
  load: idle.line,
  date: new Date().toISOString().slice(0, 10),
  command: `deno task bench:accuracy --budgets ${budgets.join(",")}` +
    (seed === 0 ? "" : ` --seed ${seed}`) +
    (values.python === "/usr/bin/python3" ? "" : ` --python ${values.python}`),
};
await Deno.writeTextFile(join(out, "accuracy.json"), JSON.stringify(result, null, 2) + "\n");
console.log(
  `\nwritten: ${join(out, "accuracy.json")} (copy it to bench/accuracy.json for the figure)`,
);

/** A deno task's wall time in seconds; its output goes to a log beside the runs. */
async function timedTask(task: string, args: string[]): Promise<number> {
  const started = performance.now();
  const r = await run(Deno.execPath(), [...taskArgs(task), ...args]);
  await Deno.writeTextFile(join(out, `${task}-${Date.now()}.log`), r.out);
  if (!r.ok) throw new Error(`deno task ${task} failed:\n${r.out.slice(-3000)}`);
  const seconds = (performance.now() - started) / 1000;
  console.error(
    `${task} ${args.includes("--seed") ? args[args.indexOf("--seed") + 1] : ""}: ` +
      `${seconds.toFixed(0)} s`,
  );
  return seconds;
}

/** The PyTorch network is the project's, weight for weight: pooled features of four photos agree. */
async function checkNetworks(python: Torch): Promise<void> {
  await initBackend({ quiet: true });
  const photos = await Promise.all(
    (await samplePhotos(4)).map((p) => loadImage(p.path, { size: 224 })),
  );
  const raw = new Uint8Array(photos.length * 224 * 224 * 3);
  photos.forEach((p, i) => raw.set(p.data, i * p.data.length));
  const file = await Deno.makeTempFile({ suffix: ".raw" });
  await Deno.writeFile(file, raw);
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 224 });
  await loadPretrained(backbone, defaultWeights());
  const x = tf.tensor4d(Float32Array.from(raw, (v) => v / 127.5 - 1), [photos.length, 224, 224, 3]);
  const pooled = backbone.model.predict(x) as tf.Tensor;
  const mine = await pooled.data();
  tf.dispose([x, pooled]);
  backbone.model.dispose();
  const r = await run(python.python, [
    fromRoot("bench", "torch_finetune.py"),
    "--split",
    "-",
    "--weights",
    defaultWeights(),
    "--check",
    file,
  ]);
  await Deno.remove(file);
  if (!r.ok) throw new Error(`torch_finetune.py --check failed:\n${r.out}`);
  const theirs =
    (JSON.parse(r.out.split("\n").find((l) => l.startsWith("{"))!).pooled as number[][])
      .flat();
  const diff = Math.max(...theirs.map((v, i) => Math.abs(v - mine[i])));
  if (!(diff < 1e-3)) throw new Error(`the PyTorch network differs from ours: max ${diff}`);
  console.error(
    `PyTorch and project networks agree: pooled features within ${diff.toExponential(1)}`,
  );
}

/** Sittings of other seeds averaged point by point (their budgets in the same order). */
async function writeMean(files: string[], out: string): Promise<string> {
  const sittings = await Promise.all(files.map((file) => readAccuracyBench(file)));
  const seeds = sittings.map((s) => Number(/--seed (\d+)/.exec(s.command)?.[1] ?? 0));
  const n = sittings.length;
  const mean = (side: "ours" | "torch") =>
    sittings[0][side].map((first, i) => {
      const points = sittings.map((s) => s[side][i]);
      if (points.some((p) => !p)) throw new Error(`${side} point ${i}: missing in a sitting`);
      const avg = (pick: (p: AccuracyPoint) => number | undefined) => {
        const values = points.map(pick);
        if (values.includes(undefined)) return undefined;
        return values.reduce((sum: number, v) => sum + v!, 0) / n;
      };
      return {
        what: first.what.replace(/ \(.*?\)/, ` (mean of ${n} seeds)`),
        minutes: avg((p) => p.minutes)!,
        accuracy: avg((p) => p.accuracy)!,
        ...(first.before !== undefined ? { before: avg((p) => p.before) } : {}),
        ...(first.plain !== undefined ? { plain: avg((p) => p.plain) } : {}),
      };
    });
  const result: AccuracyBench = {
    ours: mean("ours"),
    torch: mean("torch"),
    machine: sittings[0].machine,
    load: sittings.map((s, i) => `seed ${seeds[i]}: ${s.load}`).join("; "),
    date: [...new Set(sittings.map((s) => s.date))].join(", "),
    command: `${sittings.map((s) => s.command).join("; ")}; then --mean of the ${n} files`,
    seeds,
  };
  await Deno.writeTextFile(out, JSON.stringify(result, null, 2) + "\n");
  return out;
}
