/**
 * `deno task reproduce`: the whole recipe from a dataset folder to submission files.
 *
 * Implemented so far: the data steps (listing, relabelling, test carve-off, per-class split,
 * decoded-image cache). The training, blend search, transfer and submission steps are not built
 * yet; this command says so at the end instead of pretending.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { prepareData } from "../data/prepare.ts";
import { fromRoot } from "../paths.ts";
import { formatTime, progressBar } from "../progress.ts";

const HELP = `Usage: deno task reproduce --data DIR [options]

  --data DIR            dataset root: ImageFolder (<class>/<photo>) or competition layout
                        (train.txt, train/, test/). Try ../shared/data/imagewoof/train
  --out DIR             run folder (default data/runs/<dataset name>)
  --seed N              seed for every random choice (default 0)
  --size N              photo side after center crop (default 224)
  --val-fraction F      per-class validation fraction (default 0.1)
  --test-fraction F     for ImageFolder data: per-class part carved off as the test set (0.1)
  --interpolation K     nearest (default, as the seed) | bilinear | cubic | lanczos3
  --cache-dir DIR       decoded-photo cache (default data/cache)
  -h, --help            this text`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string" },
    out: { type: "string" },
    weights: { type: "string" },
    seed: { type: "string", default: "0" },
    size: { type: "string", default: "224" },
    "val-fraction": { type: "string", default: "0.1" },
    "test-fraction": { type: "string", default: "0.1" },
    interpolation: { type: "string", default: "nearest" },
    "cache-dir": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help || !values.data) {
  console.log(HELP);
  Deno.exit(values.help ? 0 : 2);
}

const started = performance.now();
const data = values.data;
const name = data.replace(/\/+$/, "").split("/").filter((p) => p !== "train").pop() ?? "run";
const out = values.out ?? fromRoot("data", "runs", name);
let bar: ReturnType<typeof progressBar> | undefined;
const prepared = await prepareData({
  data,
  out,
  seed: Number(values.seed),
  size: Number(values.size),
  valFraction: Number(values["val-fraction"]),
  testFraction: Number(values["test-fraction"]),
  interpolation: values.interpolation as "nearest",
  cacheDir: values["cache-dir"],
  onProgress: (done, total) => {
    bar ??= progressBar("decode", total, "img");
    bar.update(done);
    if (done === total) bar.done();
  },
});

console.log(`\nData (${prepared.layout} layout, ${prepared.labels.size} classes) -> ${out}`);
console.table(prepared.perClass.map((c) => ({
  label: c.label,
  name: c.name,
  train: c.kept,
  val: c.heldOut,
  test: c.test,
})));
console.log(
  `train ${prepared.train.length}, val ${prepared.val.length}, test ${prepared.test.length}` +
    (prepared.cache
      ? `; cache ${prepared.cache.file} (${prepared.cache.reused ? "reused" : "built"})`
      : ""),
);
if (prepared.skipped.length > 0) {
  console.log(
    `skipped ${prepared.skipped.length} unusable files, listed in ${join(out, "skipped.tsv")}:`,
  );
  for (const s of prepared.skipped.slice(0, 5)) console.log(`  ${s.path}: ${s.problem}`);
}
console.log(`wall time ${formatTime((performance.now() - started) / 1000)}`);
console.log(
  "\nNot done yet: training, blend search, transfer and submission files are not implemented in " +
    "this version; this run stopped after the data steps.",
);
