/**
 * `deno task lr-find`: fastai's learning-rate finder on a run's stages (lib/train/lr_find.ts), on
 * the cached trunk activations: seconds per stage after the caching. Earlier stages are trained
 * first when they are not (stage 2's sweep starts where stage 1 ends), in the run folder the same
 * options name, so `deno task train` with the same options resumes from there.
 */
import { initBackend } from "../engine/tf.ts";
import {
  defaultRunFolder,
  integerOption,
  parseRunArgs,
  RUN_HELP,
  runInputs,
  runSettings,
} from "./run_args.ts";
import { runMain, say } from "./main.ts";
import { openRun } from "../train/run.ts";
import { writeFigure } from "../plot/figure.ts";
import { lrFinderCurve } from "../plot/lr_find.ts";
import { UsageError } from "../errors.ts";

const HELP = `Usage: deno task lr-find [--stages 1,2] [--figure FILE.html] [run options]

Sweeps each stage's learning rate from 1e-7 to 10 over 100 steps from the weights the stage starts
from, and prints the loss curve's suggestion (fastai's valley) beside the preset's rate. Pass
the suggestions on with --lr (deno task train --lr A,B,...).

  --stages LIST       stages to sweep, 1-based (default 1,2: the heads, then the last blocks)
  --figure FILE       write the curves as an HTML page (Plotly)

${RUN_HELP}`;

await runMain(async () => {
  const values = parseRunArgs(HELP, { stages: { type: "string" }, figure: { type: "string" } });
  const inputs = await runInputs(values);
  const stages = (values.stages ?? "1,2").split(",").map((s) => integerOption("stages", s));
  const count = inputs.preset.stages.length;
  const bad = stages.find((s) => s < 1 || s > count);
  if (bad !== undefined) {
    throw new UsageError(`--stages: no stage ${bad}: the preset has stages 1 to ${count}`);
  }
  await initBackend();
  const out = values.out ?? defaultRunFolder("", inputs);
  const run = await openRun(await runSettings(inputs, out));
  try {
    for (const n of stages) {
      const plan = run.stage(n);
      const result = await run.findLearningRate(n);
      const label = `stage ${n} (${plan.spec.name})`;
      say(
        `${label}: suggestion ${result.suggestion.toPrecision(2)} ` +
          `(minimum / 10: ${result.minimumOver10.toPrecision(2)}; ` +
          `the preset's ${plan.spec.optimizer.kind} rate: ${plan.spec.optimizer.learningRate})`,
      );
      if (values.figure) {
        const file = stages.length > 1
          ? values.figure.replace(/(\.html)?$/, `-stage${n}.html`)
          : values.figure;
        await writeFigure(lrFinderCurve(result, label), file, `lr finder ${label}`);
        say(`  curve: ${file}`);
      }
    }
  } finally {
    await run.dispose();
  }
});
