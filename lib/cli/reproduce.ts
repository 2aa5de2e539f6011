/**
 * `deno task reproduce`: the whole recipe from a dataset folder to submission files — split,
 * three training stages with the blend search, prediction, pseudo-label transfer, submissions —
 * resumable (run the same command again after an interruption), with a summary at the end.
 */
import { initBackend } from "../engine/tf.ts";
import {
  defaultRunFolder,
  flipOption,
  given,
  numberOption,
  parseRunArgs,
  RUN_HELP,
  runInputs,
  runSettings,
} from "./run_args.ts";
import { filesLine, runMain, say } from "./main.ts";
import { progressCallback } from "../train/callbacks.ts";
import { reproduce, type ReproduceSummary } from "../pipeline/reproduce.ts";
import { formatTime, percent as pct } from "../progress.ts";
import { DEFAULTS } from "../defaults.ts";

const HELP = `Usage: deno task reproduce [options]

The whole recipe from a dataset folder to submission files: split, three training stages with the
blend search, prediction, pseudo-label transfer, submissions. Resumes by itself: run the same
command again.

Job:
  --flip, --no-flip   average each test prediction with its mirror image, or not (default: the
                      preset's: on for cpu and quick, off for seed, as the seed predicts)
  --threshold P       keep pseudo-labels with blended probability >= P (default ${DEFAULTS.threshold}: all, as the seed)
  --no-transfer       stop after the first submissions

${RUN_HELP}`;

await runMain(async () => {
  const values = parseRunArgs(HELP, {
    flip: { type: "boolean" },
    "no-flip": { type: "boolean" },
    threshold: { type: "string" },
    "no-transfer": { type: "boolean" },
  });
  const inputs = await runInputs(values);
  // Options left out stay undefined: the library fills them from DEFAULTS.
  const threshold = given(
    values.threshold,
    (v) => numberOption("threshold", v, { min: 0, max: 1 }),
  );
  const out = values.out ?? defaultRunFolder("reproduce", inputs);
  await initBackend();
  const transfer = values["no-transfer"] ? false : undefined;
  const flip = flipOption(values);
  const s = await reproduce({
    ...await runSettings(inputs, out, {
      transfer,
      flip,
      valFraction: inputs.valFraction,
      testFraction: inputs.testFraction,
    }),
    flip,
    threshold,
    transfer,
    callbacks: [progressCallback()],
  });
  printSummary(out, s);
});

function printSummary(out: string, s: ReproduceSummary): void {
  say(`\n== summary (${out})${s.stored ? ": finished earlier, nothing redone" : ""}`);
  say(
    `validation (best checkpoint): main ${pct(s.validation.main)}, aux ${pct(s.validation.aux)}, ` +
      `blend ${pct(s.validation.blend)} at alpha ${s.alpha.toFixed(2)}`,
  );
  if (s.scores) {
    const line = (x: { main: number; aux: number; blend: number }) =>
      `main ${pct(x.main)}, aux ${pct(x.aux)}, blend ${pct(x.blend)}`;
    say(`test part, before transfer: ${line(s.scores.before)}`);
    if (s.scores.after) {
      say(
        `test part, after transfer:  ${line(s.scores.after)} (${s.pseudoLabels} pseudo-labels)`,
      );
    }
  }
  for (const note of s.notes ?? []) say(`note: ${note}`);
  const files = s.after ?? s.before;
  say(`submission files${filesLine(Object.values(files))}`);
  const budget = s.budget
    ? ` (budget ${s.budget.minutes} min: ${
      (100 * s.seconds / (60 * s.budget.minutes)).toFixed(0)
    }%)`
    : "";
  say(
    `wall time ${formatTime(s.seconds)}${budget}${s.stored ? " when it ran" : ""}, of which:`,
  );
  const width = Math.max(...Object.keys(s.phases).map((p) => p.length));
  for (const [phase, seconds] of Object.entries(s.phases)) {
    const share = (100 * seconds / Math.max(s.seconds, 1e-9)).toFixed(0).padStart(3);
    say(`  ${phase.padEnd(width)}  ${formatTime(seconds)}  ${share}%`);
  }
}
