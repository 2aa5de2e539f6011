/**
 * `--minutes N` for a training run or a whole job: the preset planned to fit this machine
 * (lib/train/budget.ts), or the plan the run folder already holds, so that a resumed run keeps its
 * plan whatever the machine's speed is now.
 */
import { initBackend } from "../engine/tf.ts";
import { readDataset } from "../data/readers.ts";
import type { DatasetListing } from "../data/dataset.ts";
import { DEFAULTS } from "../defaults.ts";
import { jobFiles } from "../layout.ts";
import { formatTime, logLine } from "../progress.ts";
import { readRunConfig } from "../run/config.ts";
import { type Preset, presetFlip } from "../run/presets.ts";
import { budgetName, planBudget, probeSpeed, type Workload } from "../train/budget.ts";

export { budgetName };

export interface BudgetRequest {
  data: string;
  /** The preset to scale (a cached-mode one: `cpu`). */
  preset: Preset;
  minutes: number;
  /** The run folder (`train`) or the job folder (`reproduce`, with `job`). */
  out: string;
  /** A whole job: its transfer and flip settings (they price the transfer and predictions). */
  job?: { transfer?: boolean; flip?: boolean };
  valFraction?: number;
  testFraction?: number;
  log?: (line: string) => void;
  /** How the user asked for the budget, for its lines (default `--minutes N`). */
  asked?: string;
  /** The dataset as listed already (else it is listed here). */
  listing?: DatasetListing;
}

/**
 * The preset scaled to `minutes` on this machine, or the one the folder's run was planned with.
 *
 * @example
 * ```ts
 * const preset = await budgetPreset({ data, preset: PRESETS.cpu, minutes: 5, out });
 * await reproduce({ data, weights, out, preset });
 * ```
 */
export async function budgetPreset(request: BudgetRequest): Promise<Preset> {
  const { preset, minutes, out, job } = request;
  const log = request.log ?? logLine;
  const asked = request.asked ?? `--minutes ${minutes}`;
  const runDir = job ? jobFiles(out).train : out;
  const saved = await readRunConfig(runDir).then((c) => c.preset, () => undefined);
  if (saved?.budget?.minutes === minutes && saved.name === budgetName(preset, minutes)) {
    log(`${asked}: the plan ${runDir} was started with (${describe(saved)})`);
    return saved;
  }
  const { engine } = await initBackend({ quiet: true });
  const speed = await probeSpeed(preset, engine);
  const planned = planBudget(preset, minutes, await workload(request), speed, undefined, asked);
  log(`${asked}: ${describe(planned)}`);
  return planned;
}

function describe(preset: Preset): string {
  const plan = preset.budget!;
  const steps = preset.stages.map((s) => s.stepsPerRound).join("/");
  const note = plan.seconds < 0.9 * plan.minutes * 60 ? " (the plan's largest scale)" : "";
  return `${preset.cachedBatches} augmented batches per policy and ${steps} steps per round ` +
    `(x${plan.scale} the ${preset.name.replace(/-[\d.]+min$/, "")} preset${note}), ` +
    `estimated ${formatTime(plan.seconds)} on a machine ${plan.speed}x the reference's time`;
}

/** The photo counts that price decoding, validation and predictions, from the dataset listing. */
async function workload(request: BudgetRequest): Promise<Workload> {
  const listing = request.listing ?? await readDataset(request.data);
  const labelled = listing.train.length;
  const carved = listing.layout === "imagefolder"
    ? Math.round(labelled * (request.testFraction ?? DEFAULTS.testFraction))
    : 0;
  const job = request.job;
  return {
    photos: labelled + listing.test.length,
    val: Math.round((labelled - carved) * (request.valFraction ?? DEFAULTS.valFraction)),
    test: listing.test.length + carved,
    flip: job?.flip ?? presetFlip(request.preset),
    transfer: job !== undefined && (job.transfer ?? DEFAULTS.transfer) &&
      request.preset.transferStages.length > 0,
    predicts: job !== undefined,
  };
}
