/**
 * What each lever of the toolkit is worth: the whole job (`deno task reproduce`) once per lever and
 * seed, all on one split (`--split-seed 0`: the same carved-off test photos), each lever alone and
 * in combination, scored on the test part. Runs are separate processes and folders; finished ones
 * are reported from their summary.json, so a cut-short bench resumes.
 */
import { join } from "node:path";
import { benchArgs, count, reproduceJob } from "./common.ts";
import { fromRoot } from "../lib/paths.ts";

const HELP = `Usage: deno task bench:levers [--seeds 0,1] [--minutes M] [--levers LIST] [--out DIR]

The whole job per lever and seed on one split, scored on the carved-off test part (blend after the
transfer, and before it). Prints mean and spread per lever, its gain over the baseline, and
writes bench/levers.json. Accuracy does not depend on the machine's load without --minutes (each
run is a fixed recipe); with it, the plan does: run it on an idle machine (the results then go to
bench/levers-<M>min.json).

  --seeds LIST    training seeds, comma-separated (default 0,1)
  --minutes M     a --minutes budget for every run (default: the cpu preset as it is)
  --levers LIST   names from: ${Object.keys(leversTable()).join(", ")}
                  (default all)
  --out DIR       run folders (default data/runs/levers)`;

function leversTable(): Record<string, string[]> {
  return {
    baseline: [],
    "ls=0.1": ["--label-smoothing", "0.1"],
    "mixup=0.2": ["--mixup", "0.2"],
    "cutmix=1": ["--cutmix", "1"],
    cosine: ["--schedule", "cosine", "--warmup", "0.1"],
    "one-cycle": ["--schedule", "one-cycle"],
    "patience=1": ["--patience", "1"],
    "lr=x2": ["--lr", "x2"],
    "ema=0.99": ["--ema", "0.99"],
    "size=288": ["--image-size", "288"],
    "size=320": ["--image-size", "320"],
    // Fine-tuning more of the backbone than the seed's last two blocks: from block 14 (the 7x7
    // map), or block 13 (the 14x14 map before it).
    "unfreeze=block_14": ["--unfreeze-from", "block_14"],
    "unfreeze=block_13": ["--unfreeze-from", "block_13"],
    "ls+ema": ["--label-smoothing", "0.1", "--ema", "0.99"],
    // deno task lr-find's suggestions for the cpu preset's stages 1 and 2 (seed 0, 2026-12-07).
    "lr-find": ["--lr", "1.1e-3,5.6e-5"],
    "ls+mixup+cosine": [
      "--label-smoothing",
      "0.1",
      "--mixup",
      "0.2",
      "--schedule",
      "cosine",
      "--warmup",
      "0.1",
    ],
  };
}

const { values } = benchArgs(HELP, {
  seeds: { type: "string" },
  minutes: { type: "string" },
  levers: { type: "string" },
  out: { type: "string" },
});
const seeds = (values.seeds ?? "0,1").split(",").map((s) => count("seeds", s, 0));
const table = leversTable();
const names = values.levers?.split(",") ?? Object.keys(table);
for (const name of names) {
  if (!table[name]) {
    console.error(`error: --levers: unknown lever '${name}' (${Object.keys(table).join(", ")})`);
    Deno.exit(2);
  }
}
const minutes = values.minutes === undefined ? [] : ["--minutes", values.minutes];
const out = values.out ?? fromRoot("data", "runs", "levers");

interface Row {
  lever: string;
  seed: number;
  before: number;
  after: number;
  seconds: number;
}

async function job(lever: string, seed: number): Promise<Row> {
  const dir = join(out, `${lever.replace(/[^A-Za-z0-9=.+-]/g, "_")}-seed${seed}`);
  // Without flip test-time augmentation (the cpu preset's since the ablation): the levers change
  // training, and every row of the table, old folders and new, predicts the same way.
  const args = ["--seed", `${seed}`, "--split-seed", "0", "--no-flip", ...minutes, ...table[lever]];
  const { before, after, seconds } = await reproduceJob(dir, args);
  return { lever, seed, before: before.blend, after: (after ?? before).blend, seconds };
}

const rows: Row[] = [];
for (const seed of seeds) {
  for (const lever of names) {
    const row = await job(lever, seed);
    rows.push(row);
    console.error(
      `${lever} seed ${seed}: ${(100 * row.after).toFixed(2)}% after transfer, ` +
        `${(100 * row.before).toFixed(2)}% before (${(row.seconds / 60).toFixed(1)} min)`,
    );
  }
}

const pct = (x: number) => (100 * x).toFixed(2);
const stats = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const spread = Math.max(...xs) - Math.min(...xs);
  return { mean, spread };
};
const base = rows.filter((r) => r.lever === names[0]).map((r) => r.after);
console.log(
  `| lever | test blend after transfer, mean (spread) | before transfer | vs ${
    names[0]
  } | minutes |`,
);
console.log("| --- | --- | --- | --- | --- |");
for (const lever of names) {
  const mine = rows.filter((r) => r.lever === lever);
  const after = stats(mine.map((r) => r.after));
  const before = stats(mine.map((r) => r.before));
  const gain = after.mean - stats(base).mean;
  const time = stats(mine.map((r) => r.seconds / 60)).mean;
  console.log(
    `| ${lever} | ${pct(after.mean)}% (${pct(after.spread)}) | ${pct(before.mean)}% | ` +
      `${gain >= 0 ? "+" : ""}${pct(gain)} | ${time.toFixed(1)} |`,
  );
}
// Rows of the levers and seeds measured now replace theirs; the file keeps every other lever's (a
// bench of two levers does not lose the table's other rows).
const file = fromRoot("bench", values.minutes ? `levers-${values.minutes}min.json` : "levers.json");
const earlier: Row[] = await Deno.readTextFile(file).then((t) => JSON.parse(t).rows, () => []);
const measured = new Set(rows.map((r) => `${r.lever}/${r.seed}`));
const kept = earlier.filter((r) => !measured.has(`${r.lever}/${r.seed}`));
await Deno.writeTextFile(
  file,
  JSON.stringify({ minutes: values.minutes ?? null, rows: [...kept, ...rows] }, null, 2) + "\n",
);
