/**
 * `deno task reproduce`: the whole recipe from a dataset folder to submission files — split,
 * three training stages with the blend search, prediction, pseudo-label transfer, submissions —
 * resumable (run the same command again after an interruption), with a summary at the end.
 */
import { initBackend } from "../engine/tf.ts";
import {
  defaultRunFolder,
  given,
  integerOption,
  numberOption,
  parseRunArgs,
  plannedPreset,
  runInputs,
} from "./run_args.ts";
import { runMain } from "./main.ts";
import { progressCallback } from "../train/callbacks.ts";
import { reproduce, type ReproduceSummary } from "../pipeline/reproduce.ts";
import { formatTime } from "../progress.ts";
import { DEFAULTS } from "../defaults.ts";

const HELP = `Usage: deno task reproduce [options]

  --data DIR          dataset root: ImageFolder (<class>/<photo>; a per-class 10% is carved off as
                      the test set) or competition layout (train.txt, train/, test/)
                      (default ../shared/data/imagewoof/train, or $DOGS_DATA);
                      "imagewoof" downloads ImageWoof once into data/datasets/
  --weights PATH      backbone weights: model.json / .h5 / folder, or "imagenet" (official Keras
                      file, downloaded once) (default ../shared/weights/mobilenet_v2_0.35_224)
  --preset NAME       cpu (default) | seed (Xception 299, GPU) | quick (stage 1 alone, seconds)
  --out DIR           run folder (default data/runs/reproduce-<preset>-seed<seed>-<dataset>); a
                      folder holds one run: other data or settings are refused, a second
                      process on it too; the same command resumes an interrupted run
  --seed N            seed of every random choice, a whole number (default ${DEFAULTS.seed})
  --minutes N         wall-time budget: the preset's augmented views and steps (transfer's too)
                      scaled to finish the whole job in about N minutes on this machine (cached
                      presets; planned once, kept by the run folder)
  --split-seed N      seed of the data split alone (default: --seed): runs that share it share
                      their test photos and can be ensembled (deno task ensemble)
  --flip              flip test-time augmentation for the submissions (beyond the seed)
  --threshold P       keep pseudo-labels with blended probability >= P (default ${DEFAULTS.threshold}: all, as the seed)
  --no-transfer       stop after the first submissions
  --val-fraction F    per-class validation fraction (default ${DEFAULTS.valFraction}, as the seed)
  --test-fraction F   ImageFolder data: per-class part carved off as the test set (default ${DEFAULTS.testFraction})
  --small             a few steps per stage (smoke test)
  --cache-dir DIR     decoded-photo cache (default data/cache)`;

await runMain(async () => {
  const values = parseRunArgs(HELP, {
    flip: { type: "boolean" },
    threshold: { type: "string" },
    "no-transfer": { type: "boolean" },
    "val-fraction": { type: "string" },
    "test-fraction": { type: "string" },
    "split-seed": { type: "string" },
  });
  const inputs = await runInputs(values);
  // Options left out stay undefined: the library fills them from DEFAULTS.
  const threshold = given(
    values.threshold,
    (v) => numberOption("threshold", v, { min: 0, max: 1 }),
  );
  const valFraction = given(
    values["val-fraction"],
    (v) => numberOption("val-fraction", v, { min: 0, max: 1, open: true }),
  );
  const testFraction = given(
    values["test-fraction"],
    (v) => numberOption("test-fraction", v, { min: 0, max: 0.99 }),
  );
  const out = values.out ?? defaultRunFolder("reproduce", inputs);
  await initBackend();
  const transfer = values["no-transfer"] ? false : undefined;
  const s = await reproduce({
    ...inputs,
    preset: await plannedPreset(inputs, out, {
      transfer,
      flip: values.flip,
      valFraction,
      testFraction,
    }),
    out,
    flip: values.flip,
    threshold,
    transfer,
    valFraction,
    testFraction,
    splitSeed: given(values["split-seed"], (v) => integerOption("split-seed", v)),
    callbacks: [progressCallback()],
  });
  printSummary(out, s);
});

function printSummary(out: string, s: ReproduceSummary): void {
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  console.log(`\n== summary (${out})${s.stored ? ": finished earlier, nothing redone" : ""}`);
  console.log(
    `validation (best checkpoint): main ${pct(s.validation.main)}, aux ${pct(s.validation.aux)}, ` +
      `blend ${pct(s.validation.blend)} at alpha ${s.alpha.toFixed(2)}`,
  );
  if (s.scores) {
    const line = (x: { main: number; aux: number; blend: number }) =>
      `main ${pct(x.main)}, aux ${pct(x.aux)}, blend ${pct(x.blend)}`;
    console.log(`test part, before transfer: ${line(s.scores.before)}`);
    if (s.scores.after) {
      console.log(
        `test part, after transfer:  ${line(s.scores.after)} (${s.pseudoLabels} pseudo-labels)`,
      );
    }
  }
  const files = s.after ?? s.before;
  console.log(
    `submission files: ${files.main}, ${files.aux}, ${files.blend}; probabilities: ${files.probabilities}`,
  );
  const budget = s.budget
    ? ` (budget ${s.budget.minutes} min: ${
      (100 * s.seconds / (60 * s.budget.minutes)).toFixed(0)
    }%)`
    : "";
  console.log(
    `wall time ${formatTime(s.seconds)}${budget}${s.stored ? " when it ran" : ""}, of which:`,
  );
  const width = Math.max(...Object.keys(s.phases).map((p) => p.length));
  for (const [phase, seconds] of Object.entries(s.phases)) {
    const share = (100 * seconds / Math.max(s.seconds, 1e-9)).toFixed(0).padStart(3);
    console.log(`  ${phase.padEnd(width)}  ${formatTime(seconds)}  ${share}%`);
  }
}
