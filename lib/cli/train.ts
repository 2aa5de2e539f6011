/**
 * `deno task train`: the three training stages with validation, blend search and checkpoints.
 * Resumes by itself after an interruption (run the same command again).
 */
import { initBackend } from "../engine/tf.ts";
import { defaultRunFolder, parseRunArgs, RUN_HELP, runInputs, runSettings } from "./run_args.ts";
import { runMain, say } from "./main.ts";
import { train } from "../train/run.ts";
import { progressCallback } from "../train/callbacks.ts";
import { formatTime, truncated } from "../progress.ts";

const HELP = `Usage: deno task train [options]

The three training stages with validation, the blend search and checkpoints (no submissions:
deno task reproduce runs the whole job). Resumes by itself: run the same command again.

${RUN_HELP}`;

await runMain(async () => {
  const values = parseRunArgs(HELP, {});
  const inputs = await runInputs(values);
  await initBackend();
  const out = values.out ?? defaultRunFolder("", inputs);
  const settings = await runSettings(inputs, out);
  const result = await train({ ...settings, callbacks: [progressCallback()] });
  const last = result.history.at(-1);
  // A budget is the command's wall time, start to end (the clock the stages were refitted on).
  const budget = settings.preset.budget;
  const wall = performance.now() / 1000;
  const used = budget
    ? `; --minutes ${budget.minutes}: ${formatTime(wall)}, ${
      (100 * wall / (60 * budget.minutes)).toFixed(0)
    }% of the budget`
    : "";
  say(
    `\ntrained ${result.history.length} rounds in ${formatTime(result.seconds)}` +
      (result.resumedFrom ? ` (resumed after round ${result.resumedFrom})` : "") + used,
  );
  if (last) {
    say(
      `last round: main ${truncated(last.metrics.main)}, aux ${truncated(last.metrics.aux)}, ` +
        `blend ${truncated(last.metrics.blend)} at alpha ${last.metrics.alpha.toFixed(2)}`,
    );
  }
  if (result.best) say(`best checkpoint: ${result.best.path}`);
});
