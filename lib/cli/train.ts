/**
 * `deno task train`: the three training stages with validation, blend search and checkpoints.
 * Resumes by itself after an interruption (run the same command again).
 */
import { initBackend } from "../engine/tf.ts";
import {
  defaultRunFolder,
  given,
  numberOption,
  parseRunArgs,
  plannedPreset,
  runInputs,
} from "./run_args.ts";
import { runMain } from "./main.ts";
import { train } from "../train/run.ts";
import { progressCallback } from "../train/callbacks.ts";
import { formatTime } from "../progress.ts";
import { DEFAULTS } from "../defaults.ts";

const HELP = `Usage: deno task train [options]

  --data DIR          dataset root (default ../shared/data/imagewoof/train, or $DOGS_DATA);
                      "imagewoof" downloads ImageWoof once into data/datasets/
  --weights PATH      pretrained backbone: model.json / .h5 / folder, or "imagenet" to download
                      the official Keras file (default ../shared/weights/mobilenet_v2_0.35_224)
  --preset NAME       cpu (MobileNetV2-0.35, cached trunk, minutes) | seed (Xception 299, GPU) |
                      quick (stage 1 alone: a model in seconds, to try predict/export/ensemble)
  --out DIR           run folder (default data/runs/<preset>-seed<seed>-<dataset>); a folder
                      holds one run: another dataset, preset, seed or weights is refused
  --seed N            seed of every random choice, a whole number (default ${DEFAULTS.seed})
  --minutes N         wall-time budget: the preset's augmented views and steps scaled to finish
                      in about N minutes on this machine (cached presets; planned once, kept
                      by the run folder)
  --small             a few steps per stage (smoke test, CI)
  --center-weight W   center loss weight (default ${DEFAULTS.lossWeights.center}; 0 disables)
  --aux-weight W      auxiliary head weight (default ${DEFAULTS.lossWeights.aux}; 0 disables)
  --no-glu            main softmax straight on pooled features (ablation)
  --cache-dir DIR     decoded-photo cache (default data/cache)`;

await runMain(async () => {
  const values = parseRunArgs(HELP, {
    "center-weight": { type: "string" },
    "aux-weight": { type: "string" },
    "no-glu": { type: "boolean", default: false },
  });
  const inputs = await runInputs(values);
  const weight = (name: "center-weight" | "aux-weight") =>
    given(values[name], (v) => numberOption(name, v, { min: 0, max: 100 }));
  const lossWeights = {
    center: weight("center-weight") ?? DEFAULTS.lossWeights.center,
    aux: weight("aux-weight") ?? DEFAULTS.lossWeights.aux,
  };
  await initBackend();
  const out = values.out ?? defaultRunFolder("", inputs);
  const result = await train({
    ...inputs,
    preset: await plannedPreset(inputs, out),
    out,
    lossWeights,
    glu: !values["no-glu"],
    callbacks: [progressCallback()],
  });
  const last = result.history.at(-1);
  console.log(
    `\ntrained ${result.history.length} rounds in ${formatTime(result.seconds)}` +
      (result.resumedFrom ? ` (resumed after round ${result.resumedFrom})` : ""),
  );
  if (last) {
    console.log(
      `last round: main ${last.metrics.main.toFixed(4)}, aux ${last.metrics.aux.toFixed(4)}, ` +
        `blend ${last.metrics.blend.toFixed(4)} at alpha ${last.metrics.alpha.toFixed(2)}`,
    );
  }
  if (result.best) console.log(`best checkpoint: ${result.best.path}`);
});
