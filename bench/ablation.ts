/**
 * Ablations of the seed's recipe with the `cpu` preset, same seed and budget: the full recipe,
 * then without center loss, without the auxiliary head, without the GLU (main softmax straight on
 * pooled features), and without splicing and masking. Prints each variant's validation accuracy
 * (best round, blended) and its difference from the full recipe. Runs that already finished in
 * data/runs/ablation-* are reused.
 *
 *   deno task bench:ablation [--data ../shared/data/imagewoof/train]
 */
import { initBackend } from "../lib/engine/tf.ts";
import { defaultDataset, defaultWeights, fromRoot } from "../lib/paths.ts";
import { PRESETS } from "../lib/run/presets.ts";
import { train, type TrainOptions } from "../lib/train/run.ts";
import { progressCallback } from "../lib/train/callbacks.ts";
import { benchArgs } from "./common.ts";

const HELP = `Usage: deno task bench:ablation [--data DIR] [--weights PATH]

Trains the cpu preset's full recipe and four ablations (no center loss, no aux head, no GLU, no
splice/mask) with the same seed, and prints each one's best blended validation accuracy and its
difference from the full recipe. Finished runs in data/runs/ablation-* are reused.

  --data DIR      dataset (default ../shared/data/imagewoof/train, or $DOGS_DATA)
  --weights PATH  backbone weights (default ../shared/weights/mobilenet_v2_0.35_224)`;

const { values } = benchArgs(HELP, { data: { type: "string" }, weights: { type: "string" } });
await initBackend();
const variants: [string, Partial<TrainOptions>][] = [
  ["full recipe", {}],
  ["no center loss", { lossWeights: { center: 0, aux: 0.25 } }],
  ["no aux head", { lossWeights: { center: 0.25, aux: 0 } }],
  ["no GLU", { glu: false }],
  ["no splice / mask", { without: { splice: false, mask: false } }],
];
const rows: { variant: string; main: number; aux: number; blend: number; minutes: number }[] = [];
for (const [name, change] of variants) {
  const started = performance.now();
  const result = await train({
    data: values.data ?? defaultDataset(),
    weights: values.weights ?? defaultWeights(),
    out: fromRoot("data", "runs", `ablation-${name.replace(/[^a-z]+/gi, "-")}`),
    preset: PRESETS.cpu,
    seed: 0,
    callbacks: [progressCallback()],
    ...change,
  });
  const m = result.best!.meta.metrics;
  rows.push({
    variant: name,
    main: m.main,
    aux: m.aux,
    blend: m.blend,
    minutes: (performance.now() - started) / 60000,
  });
}
const full = rows[0];
console.log("| variant | main | aux | blend | blend - full | minutes |\n|---|---|---|---|---|---|");
for (const r of rows) {
  const diff = r === full ? "" : `${((r.blend - full.blend) * 100).toFixed(1)} points`;
  console.log(
    `| ${r.variant} | ${r.main.toFixed(3)} | ${r.aux.toFixed(3)} | ${
      r.blend.toFixed(3)
    } | ${diff} | ${r.minutes.toFixed(1)} |`,
  );
}
