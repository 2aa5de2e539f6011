/**
 * Where a cut-short transfer stops paying. A `--minutes` job gives its transfer the time left
 * after stages 1-3; on a slow or busy machine that can be a tenth of the planned steps. This runs
 * the transfer of finished jobs (bench:levers' baseline runs: the cpu preset, one split) again at
 * a fraction of its steps, from the same best checkpoint and pseudo-labels, and scores each on the
 * carved-off test part beside the job's before-transfer files and its whole transfer.
 */
import { join } from "node:path";
import { benchArgs } from "./common.ts";
import { defaultDataset, defaultWeights, fromRoot } from "../lib/paths.ts";
import { openReproduction } from "../lib/pipeline/reproduce.ts";
import { PRESETS } from "../lib/run/presets.ts";
import { scaleSteps } from "../lib/train/budget.ts";
import { initBackend } from "../lib/engine/tf.ts";
import { truncated } from "../lib/progress.ts";

const HELP =
  `Usage: deno task bench:transfer-cut [--seeds 0,1] [--factors 0.1,0.25,0.5] [--from DIR]

  --seeds LIST    the jobs' seeds (default 0,1), each a finished job in DIR/baseline-seed<S>
                  (deno task bench:levers --levers baseline makes them)
  --factors LIST  fractions of the transfer's planned steps (default 0.1,0.25,0.5)
  --from DIR      the jobs (default data/runs/levers); copies go to DIR-transfer-cut/`;

const { values } = benchArgs(HELP, {
  seeds: { type: "string" },
  factors: { type: "string" },
  from: { type: "string" },
});
const seeds = (values.seeds ?? "0,1").split(",").map(Number);
const factors = (values.factors ?? "0.1,0.25,0.5").split(",").map(Number);
const from = values.from ?? fromRoot("data", "runs", "levers");
await initBackend({ quiet: true });

interface Row {
  seed: number;
  factor: number;
  blend: number;
  steps: number[];
}

const rows: Row[] = [];
for (const seed of seeds) {
  const base = join(from, `baseline-seed${seed}`);
  const summary = JSON.parse(await Deno.readTextFile(join(base, "summary.json")));
  const steps = PRESETS.cpu.transferStages.map((s) => s.stepsPerRound);
  rows.push({ seed, factor: 0, blend: summary.scores.before.blend, steps: [] });
  rows.push({ seed, factor: 1, blend: summary.scores.after.blend, steps });
  for (const factor of factors) {
    const out = join(`${from}-transfer-cut`, `seed${seed}-x${factor}`);
    const done = await Deno.readTextFile(join(out, "summary.json")).catch(() => undefined);
    let blend: number;
    const stages = scaleSteps(PRESETS.cpu.transferStages, factor);
    if (done) blend = JSON.parse(done).scores.after.blend;
    else {
      await Deno.remove(out, { recursive: true }).catch(() => {});
      await Deno.mkdir(out, { recursive: true });
      const copy = await new Deno.Command("cp", { args: ["-a", join(base, "train"), out] })
        .output();
      if (!copy.success) throw new Error(`cannot copy ${base}/train`);
      const r = await openReproduction({
        data: defaultDataset(),
        weights: defaultWeights(),
        preset: PRESETS.cpu,
        seed,
        splitSeed: 0,
        out,
        log: () => {},
      });
      try {
        const before = await r.predictTest("before");
        const pseudo = r.pseudoLabels(before);
        await r.transfer(pseudo, undefined, stages);
        const after = await r.predictTest("after");
        await r.writeSummary(before, after, pseudo.length);
        blend = after.scores!.blend;
      } finally {
        await r.close();
      }
    }
    rows.push({ seed, factor, blend, steps: stages.map((s) => s.stepsPerRound) });
    console.error(`seed ${seed} x${factor}: ${(100 * blend).toFixed(2)}%`);
  }
}

const pct = (x: number) => truncated(100 * x, 2);
console.log("| transfer steps (share of planned) | test blend, mean | per seed | vs before |");
console.log("| --- | --- | --- | --- |");
for (const factor of [0, ...factors.sort((a, b) => a - b), 1]) {
  const mine = rows.filter((r) => r.factor === factor);
  const mean = mine.reduce((a, r) => a + r.blend, 0) / mine.length;
  const before = rows.filter((r) => r.factor === 0);
  const base = before.reduce((a, r) => a + r.blend, 0) / before.length;
  const label = factor === 0 ? "none (before transfer)" : `x${factor} (${mine[0].steps.join("/")})`;
  console.log(
    `| ${label} | ${pct(mean)}% | ${mine.map((r) => pct(r.blend)).join(", ")} | ` +
      `${mean >= base ? "+" : ""}${pct(mean - base)} |`,
  );
}
await Deno.writeTextFile(
  fromRoot("bench", "transfer_cut.json"),
  JSON.stringify({ seeds, factors, rows }, null, 2) + "\n",
);
