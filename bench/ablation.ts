/**
 * What each part of the seed's recipe is worth, with error bars: the whole job (`deno task
 * reproduce`, the `cpu` preset) per variant and seed, all on one split (`--split-seed 0`: the same
 * carved-off test photos, never trained or tuned on), scored on that test part. Variants that
 * change training are jobs of their own; the three that change only what happens after training
 * are read from the full recipe's own runs:
 *
 * - no blend search: the main head alone (alpha 1), from the final model's submission scores;
 * - no transfer: the submissions before the pseudo-label transfer;
 * - flip TTA: the final model predicting each test photo and its mirror image (beyond the seed).
 *
 * Writes bench/ablation.json (notebook 07 draws it). Finished jobs are read back from their
 * folders, so a cut-short bench resumes.
 */
import { join } from "node:path";
import { benchArgs, count, reproduceJob } from "./common.ts";
import { fromRoot } from "../lib/paths.ts";
import { initBackend } from "../lib/engine/tf.ts";
import { loadFinalModel, predictPhotos } from "../lib/predict/predict.ts";
import { accuracy, blend } from "../lib/model/blend.ts";
import { cacheImages } from "../lib/data/cache.ts";
import { readSplit } from "../lib/data/prepare.ts";
import { readTable } from "../lib/data/table.ts";
import { runFiles } from "../lib/layout.ts";

const TRAINED: Record<string, string[]> = {
  "full recipe": [],
  "no center loss": ["--center-weight", "0"],
  "no aux head": ["--aux-weight", "0"],
  "no GLU": ["--no-glu"],
  "no splice / mask": ["--without", "splice,mask"],
  "plain sampler": ["--sampler", "plain"],
};
const FROM_FULL = ["no blend search (main head)", "no transfer", "flip TTA added"];

const HELP = `Usage: deno task bench:ablation [--seeds 0,1,2] [--out DIR]

The whole job per variant and seed on one split, scored on the carved-off test part: the full
recipe; ${Object.keys(TRAINED).slice(1).join("; ")} (each a job of its own); ${
  FROM_FULL.join("; ")
} (read from the full recipe's runs). Prints mean, standard deviation and range per variant, and
its difference from the full recipe; writes bench/ablation.json. Each job is a fixed recipe: the
accuracies do not depend on the machine's load.

  --seeds LIST   training seeds, comma-separated (default 0,1,2)
  --out DIR      job folders (default data/runs/ablation); finished ones are read back`;

const { values } = benchArgs(HELP, { seeds: { type: "string" }, out: { type: "string" } });
const seeds = (values.seeds ?? "0,1,2").split(",").map((s) => count("seeds", s, 0));
const out = values.out ?? fromRoot("data", "runs", "ablation");

interface Row {
  variant: string;
  seed: number;
  accuracy: number;
  minutes?: number;
}

/** The final model's test-part accuracy with flip test-time augmentation. */
async function flipAccuracy(dir: string): Promise<number> {
  await initBackend({ quiet: true });
  const run = await loadFinalModel(dir);
  const answers = await readTable(runFiles(run.splitFolder).testAnswers);
  const split = await readSplit(run.splitFolder);
  const pathOf = new Map(split.test.map((p) => [p.id, p.path]));
  const ids = answers.map((a) => a.id);
  const cache = await cacheImages(ids.map((id) => ({ id, path: pathOf.get(id)! })), {
    size: run.config.preset.backbone.size,
  });
  const p = await predictPhotos(run.model, cache, ids, { flip: true });
  cache.close();
  const truth = Int32Array.from(answers, (a) => run.labels.toIndex(a.label));
  return accuracy(blend(p.main, p.aux, run.alpha), truth, p.classes);
}

const rows: Row[] = [];
for (const seed of seeds) {
  for (const [variant, flags] of Object.entries(TRAINED)) {
    const dir = join(out, `${variant.replace(/[^A-Za-z0-9]+/g, "-")}-seed${seed}`);
    // The seed's recipe predicts without flip; the flip row adds it to the full recipe's runs.
    const args = ["--seed", `${seed}`, "--split-seed", "0", "--no-flip", ...flags];
    const scores = await reproduceJob(dir, args);
    const final = scores.after ?? scores.before;
    rows.push({ variant, seed, accuracy: final.blend, minutes: scores.seconds / 60 });
    if (variant === "full recipe") {
      rows.push({ variant: FROM_FULL[0], seed, accuracy: final.main });
      rows.push({ variant: FROM_FULL[1], seed, accuracy: scores.before.blend });
      rows.push({ variant: FROM_FULL[2], seed, accuracy: await flipAccuracy(dir) });
    }
    console.error(`${variant}, seed ${seed}: ${(100 * final.blend).toFixed(2)}%`);
  }
}

const variants = [...Object.keys(TRAINED), ...FROM_FULL];
const summary = variants.map((variant) => {
  const xs = rows.filter((r) => r.variant === variant).map((r) => 100 * r.accuracy);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { variant, mean, sd, min: Math.min(...xs), max: Math.max(...xs), seeds: xs.length };
});
const full = summary[0];
console.log(
  "| variant | test accuracy, mean ± sd | range | vs full recipe |\n| --- | --- | --- | --- |",
);
for (const s of summary) {
  const diff = s.mean - full.mean;
  console.log(
    `| ${s.variant} | ${s.mean.toFixed(2)}% ± ${s.sd.toFixed(2)} | ${s.min.toFixed(2)}-${
      s.max.toFixed(2)
    } | ${s === full ? "" : `${diff >= 0 ? "+" : ""}${diff.toFixed(2)}`} |`,
  );
}
await Deno.writeTextFile(
  fromRoot("bench", "ablation.json"),
  JSON.stringify(
    { seeds, testPhotos: "the carved-off test part, split seed 0", summary, rows },
    null,
    2,
  ) +
    "\n",
);
