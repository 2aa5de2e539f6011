/**
 * Fitting a run into a wall-time budget (`--minutes N`): how a CPU is actually used. The user says
 * how long they can wait; the preset's augmented views (cached batches per policy) and steps are
 * scaled by one factor until the run's estimated wall time fills the budget.
 *
 * The estimate counts the run's units of work (trunk batches cached, top steps, head steps,
 * photos decoded and predicted) and prices each with a cost measured on a reference machine,
 * multiplied by this machine's speed against it: a probe of a few seconds times the frozen trunk
 * on the engine the run will use. The plan is made once and written into the run's preset (its
 * identity), so a resumed run keeps it on any machine instead of planning again.
 */
import { formatTime } from "../progress.ts";
import { backboneSpec, buildBackbone, splitBackbone } from "../model/index.ts";
import { type BatchRunner, onnxRunner, tfjsRunner } from "../model/runner.ts";
import { foldModel } from "../model/fold.ts";
import type { BudgetPlan, Preset, StageSpec } from "../run/presets.ts";
import { UsageError } from "../errors.ts";
import { batchesRead } from "./features.ts";
import { planStages } from "./stage.ts";

/** Seconds per unit of work. */
export interface UnitCosts {
  /** Process start, backend, model and sessions, per training run. */
  startup: number;
  /** One photo decoded and resized into the cache (a cold cache). */
  decodePhoto: number;
  /** One augmented batch through the frozen trunk, all cores. */
  trunkBatch: number;
  /** One cached batch through the frozen top to pooled features (stage 1). */
  pooledBatch: number;
  /** One stage-1 step (the heads on pooled features). */
  headStep: number;
  /** One stage 2-3 step (the unfrozen blocks and the heads on cached activations). */
  topStep: number;
  /** One validation round (the top over the cached validation activations, the blend search). */
  validationRound: number;
  /** One test photo through the whole network. */
  predictPhoto: number;
}

/**
 * The main job's phase table on the reference machine (2-core AMD EPYC, ONNX Runtime 1.30 beside
 * tfjs wasm on 2 threads; `--minutes 10` at scale 6, bench/RESULTS.md "--minutes") divided by its
 * units of work: 7,432 trunk batches, 2,880 pooled, 3,600 head and 6,300 top steps, 11 rounds.
 * Trunk batches and top steps then got faster (planar, reused batch buffers in the trunk workers;
 * the step graph rewritten): their costs are scaled by what the plain main job's phases took
 * before and after, back to back on one machine (trunk caching 73 -> 57 s, 1,282 batches; training
 * steps 56 -> 26 s, 1,050 top steps beside 600 head steps; bench/RESULTS.md, issue 20), and the
 * trunk batches again when the augmentation became one pass (x0.87: the workers' rate before over
 * after, `bench:trunk-pool` side by side, three runs 0.86-0.88; single main jobs moved too much
 * with the VM's pace to tell), and once more when the workers ran two photos a run (x0.81, the same
 * way, two runs 0.814; trunk caching in two pairs of main jobs: 0.84, 0.85). Decoding is priced
 * x0.25 since libjpeg-turbo on every core (the job's decoding phase 12 s before, 2-3 s after, one
 * sitting).
 */
export const REFERENCE_COSTS: UnitCosts = {
  startup: 4,
  decodePhoto: (11 / 9025) * 0.25,
  trunkBatch: (367 / 7432) * (57 / 73) * 0.87 * 0.81,
  pooledBatch: 12 / 2880,
  headStep: 0.0047,
  topStep: (236 / 6300) * ((26 - 3.4) / (56 - 3.4)),
  validationRound: 1 / 11,
  predictPhoto: 4 / 1798,
};

/** The probe's seconds per trunk batch on the reference machine: its rested reading (0.0507)
 * divided by the pace six budgeted jobs then kept against their estimates (1.02-1.12, mean 1.085).
 * A VM's short burst after a rest runs ~1.4x its sustained pace (right after a long run the probe
 * reads ~0.073): the costs above are sustained, and `refitTransfer` corrects what is left. */
export const REFERENCE_PROBE_SECONDS = 0.0467;

/** What the run works on: photo counts that price decoding, validation and predictions. */
export interface Workload {
  /** Photos decoded: every labelled and test photo, priced as a cold cache (a warm one ends a few
   * seconds early: ~3 s for ImageWoof's 9,025 on the reference machine). */
  photos: number;
  /** Validation photos (their trunk activations are cached once per training run). */
  val: number;
  /** Test photos predicted (before and after transfer). */
  test: number;
  /** Whether the test predictions include the mirror image. */
  flip: boolean;
  /** Whether the job runs the transfer (a `reproduce` job with transfer stages). */
  transfer: boolean;
  /** Whether the job predicts the test photos at all (`reproduce`; `train` does not). */
  predicts: boolean;
}

/** The estimated seconds of a cached-mode run of `preset`, by phase. */
export function estimateSeconds(
  preset: Preset,
  work: Workload,
  costs: UnitCosts,
): Record<string, number> {
  const runs = [preset.stages, ...(work.transfer ? [preset.transferStages] : [])];
  let trunkBatches = 0, pooled = 0, head = 0, top = 0, rounds = 0;
  for (const stages of runs) {
    trunkBatches += Math.ceil(work.val / preset.batchSize);
    for (const reading of policiesRead(stages).values()) {
      const read = batchesRead(reading, preset.cachedBatches).length;
      trunkBatches += read;
      if (reading.some((r) => !r.unfreeze)) pooled += read;
    }
    for (const s of stages) {
      const steps = s.rounds * s.stepsPerRound;
      if (s.unfreeze) top += steps;
      else head += steps;
      rounds += s.rounds;
    }
  }
  const predictions = work.predicts ? (work.transfer ? 2 : 1) * (work.flip ? 2 : 1) : 0;
  return {
    startup: costs.startup * runs.length,
    decoding: costs.decodePhoto * work.photos,
    "trunk caching": costs.trunkBatch * trunkBatches,
    "pooled features": costs.pooledBatch * pooled,
    "training steps": costs.headStep * head + costs.topStep * top,
    validation: costs.validationRound * rounds,
    "test predictions": costs.predictPhoto * work.test * predictions,
  };
}

/** Each policy's stages with where their steps start (the batch cursor runs over the run). */
function policiesRead(stages: readonly StageSpec[]) {
  const byPolicy = new Map<string, { firstStep: number; steps: number; unfreeze: boolean }[]>();
  for (const plan of planStages(stages)) {
    const list = byPolicy.get(plan.spec.policy) ?? [];
    list.push({
      firstStep: plan.firstStep,
      steps: plan.spec.rounds * plan.spec.stepsPerRound,
      unfreeze: plan.spec.unfreeze,
    });
    byPolicy.set(plan.spec.policy, list);
  }
  return byPolicy;
}

/** The sum of an estimate's phases. */
export function totalSeconds(estimate: Record<string, number>): number {
  return Object.values(estimate).reduce((a, b) => a + b, 0);
}

/** The base preset with its cached batches and every stage's steps per round times `scale`. */
export function scalePreset(base: Preset, scale: number): Preset {
  return {
    ...base,
    cachedBatches: Math.max(MIN_BATCHES, Math.round(base.cachedBatches * scale)),
    stages: scaleSteps(base.stages, scale),
    transferStages: scaleSteps(base.transferStages, scale),
  };
}

/** Every stage's steps per round times `factor`, rounded, at least MIN_STEPS. */
export function scaleSteps(stages: readonly StageSpec[], factor: number): StageSpec[] {
  return stages.map((s) => ({
    ...s,
    stepsPerRound: Math.max(MIN_STEPS, Math.round(s.stepsPerRound * factor)),
  }));
}

const MIN_STEPS = 10;
const MIN_BATCHES = 8;
/** Past this, more views and steps were not measured to pay (and the cache grows with them:
 * ~0.35 GB per policy at scale 1 for MobileNetV2-0.35); a longer budget finishes early. */
export const MAX_SCALE = 6;
const MIN_SCALE = 0.1;

/**
 * The base preset scaled to fill `minutes` on a machine `speed` times slower than the reference:
 * the largest scale (to 0.01) whose estimate fits, or a UsageError naming the shortest budget
 * that can fit when even the smallest plan does not.
 *
 * @example
 * ```ts
 * const preset = planBudget(PRESETS.cpu, 5, workload, await probeSpeed(PRESETS.cpu, 2));
 * preset.budget; // { minutes: 5, scale: 1.8, speed: 1, seconds: 294 }
 * ```
 */
export function planBudget(
  base: Preset,
  minutes: number,
  work: Workload,
  speed: number,
  costs: UnitCosts = REFERENCE_COSTS,
  /** How the user asked for the budget, for messages (`DOGS_MINUTES=5` in a notebook). */
  asked = `--minutes ${minutes}`,
): Preset & { budget: BudgetPlan } {
  if (base.mode !== "cached") {
    throw new UsageError(
      `${asked}: budgets plan cached-mode presets (cpu); '${base.name}' trains end to end on a GPU: ` +
        "choose its rounds instead",
    );
  }
  const { name, unfreezeFrom } = base.backbone;
  const seedCut = backboneSpec(name).unfreezeFromStage;
  if (unfreezeFrom !== undefined && unfreezeFrom !== seedCut) {
    // The costs are the seed's cut's: from block_14 the top steps ran 1.5x slower, from block_13
    // (a 14x14 map) 7x, which no refit of the later stages makes up for.
    throw new UsageError(
      `${asked}: budgets are priced for ${name} unfrozen from ${seedCut}, not from ` +
        `${unfreezeFrom}: choose rounds and steps instead (--rounds, --steps)`,
    );
  }
  const seconds = (scale: number) =>
    speed * totalSeconds(estimateSeconds(scalePreset(base, scale), work, costs));
  const budget = minutes * 60;
  if (seconds(MIN_SCALE) > budget) {
    throw new UsageError(
      `${asked}: even the smallest plan needs about ${
        Math.ceil(seconds(MIN_SCALE))
      } s on this machine`,
    );
  }
  const scale = largestFitting((x) => seconds(x) <= budget, MIN_SCALE, MAX_SCALE);
  const plan: BudgetPlan = {
    minutes,
    scale,
    speed: Math.round(speed * 1000) / 1000,
    seconds: Math.round(seconds(scale)),
  };
  return { ...scalePreset(base, scale), name: budgetName(base, minutes), budget: plan };
}

/** The name a budget gives its preset (and so its default run folder): `cpu-5min`. */
export function budgetName(preset: Preset, minutes: number): string {
  return `${preset.name}-${minutes}min`;
}

/** The largest x in [low, high], to 0.01 and rounded down, for which `fits` holds, `fits` being
 * monotone (an estimate grows with its scale) and true at `low` (else `low`). */
function largestFitting(fits: (x: number) => boolean, low: number, high: number): number {
  if (fits(high)) return high;
  while (high - low > 0.005) {
    const mid = (low + high) / 2;
    if (fits(mid)) low = mid;
    else high = mid;
  }
  return Math.floor(low * 100) / 100;
}

/**
 * This machine's speed against the reference (seconds per reference second): the preset's frozen
 * trunk timed on one thread of the forward engine (trunk caching runs one-thread workers, and a
 * two-thread probe varied by a quarter from one process to the next on the reference VM), the
 * median of a few batches of noise after one to warm up (about 1.5 s with building the session).
 * Weights do not change the time, so the backbone keeps its initial ones.
 */
export async function probeSpeed(
  preset: Preset,
  engine: "onnxruntime" | "tfjs",
  batches = 15,
): Promise<number> {
  const backbone = buildBackbone(preset.backbone.name, { ...preset.backbone });
  const { trunk } = splitBackbone(backbone);
  const shape = (trunk.inputs[0].shape as number[]).slice(1);
  let runner: BatchRunner;
  let folded: ReturnType<typeof foldModel> | undefined;
  if (engine === "onnxruntime") {
    runner = await onnxRunner([trunk], { threads: 1 });
  } else {
    folded = foldModel(trunk);
    runner = tfjsRunner(folded, shape);
  }
  try {
    const n = preset.batchSize;
    const x = new Float32Array(n * shape.reduce((a, b) => a * b, 1)).map((_, i) =>
      ((i * 7919) % 255) / 127.5 - 1
    );
    await runner.run(x, n);
    const times: number[] = [];
    for (let b = 0; b < batches; b++) {
      const start = performance.now();
      await runner.run(x, n);
      times.push((performance.now() - start) / 1000);
    }
    // The median: one batch slowed by another process does not move the plan.
    return times.sort((a, b) => a - b)[batches >> 1] / REFERENCE_PROBE_SECONDS;
  } finally {
    await runner.dispose();
    folded?.dispose();
    backbone.model.dispose();
  }
}

/**
 * What a run has left to price once its split is made: every photo decoded (the unreadable too),
 * its validation photos, the test photos it predicts (those that decoded), and the job around it.
 */
export function workloadOf(
  data: { train: unknown[]; val: unknown[]; test: unknown[]; unreadableTest: unknown[] },
  job: { flip: boolean; transfer: boolean; predicts: boolean },
): Workload {
  const { train, val, test, unreadableTest } = data;
  return {
    photos: train.length + val.length + test.length + unreadableTest.length,
    val: val.length,
    test: test.length,
    ...job,
  };
}

/** The head of a refit's line: the budget, the time spent and the pace against the plan. */
export function paceLine(minutes: number, fit: { spent: number; pace: number }): string {
  return `--minutes ${minutes}: ${formatTime(fit.spent)} spent, ${
    fit.pace.toFixed(2)
  }x the plan's estimate; `;
}

/** The stages from `stage` on refitted to the time left (`refitStages`), kept in the run folder so
 * that a resumed run trains the same ones. */
export interface StageFit {
  /** The first stage refitted (0-based). */
  stage: number;
  /** The factor on those stages' steps per round. */
  factor: number;
  /** Seconds spent per planned second so far. */
  pace: number;
  spent: number;
  left: number;
  /** Every stage of the run after the fit. */
  stages: StageSpec[];
}

/**
 * A budgeted run's stages from `from` on, their steps scaled to the time left at the pace the
 * stages before kept against the plan's estimate (`spent` seconds since the command started). The
 * rest of the job as planned (predictions, the transfer) keeps its share: the transfer is fitted
 * again when it starts. A probe taken in a quiet moment, or load that came later, is corrected at
 * every stage boundary instead of once, before the transfer. Stages are only ever cut, never
 * grown: the pace so far is mostly trunk caching's, and top steps priced at it overran (0.6-minute
 * jobs whose stages 2-3 grew x3 left their transfer too little time, three runs in four); time a
 * faster machine leaves goes to the transfer, whose fit sees the pace of every stage.
 */
export function refitStages(
  preset: Preset & { budget: BudgetPlan },
  stages: readonly StageSpec[],
  from: number,
  work: Workload,
  spent: number,
  costs: UnitCosts = REFERENCE_COSTS,
): StageFit {
  const { speed, minutes } = preset.budget;
  const seconds = (s: readonly StageSpec[], w: Workload) =>
    speed * totalSeconds(estimateSeconds({ ...preset, stages: [...s] }, w, costs));
  const done = seconds(stages.slice(0, from), { ...work, transfer: false, predicts: false });
  const pace = spent / done;
  const left = minutes * 60 - spent;
  const scaled = (f: number) => [...stages.slice(0, from), ...scaleSteps(stages.slice(from), f)];
  const factor = largestFitting(
    (f) => pace * (seconds(scaled(f), work) - done) <= left,
    FIT_RANGE[0],
    1,
  );
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    stage: from,
    factor,
    pace: round(pace),
    spent: round(spent),
    left: round(left),
    stages: scaled(factor),
  };
}

/** The transfer's steps refitted to the time left (`refitTransfer`). */
export interface TransferFit {
  /** The factor on the planned transfer's steps per round. */
  factor: number;
  /** Seconds spent per estimated second so far (this machine's pace against the plan). */
  pace: number;
  /** Seconds spent when the transfer was fitted, and left of the budget. */
  spent: number;
  left: number;
  /** Whether even the smallest transfer (FIT_RANGE's low end) ends in time. */
  fits: boolean;
  stages: StageSpec[];
}

/** The factors a refit may give the planned steps: a tenth of them at least (the transfer paid
 * even at a twentieth, bench/RESULTS.md "A cut-short transfer"), three times at most. */
const FIT_RANGE = [0.1, 3] as const;
/** The smallest share of its planned steps a transfer is given; less time than that skips it. */
export const MIN_TRANSFER_FACTOR = FIT_RANGE[0];

/**
 * The planned transfer's steps scaled to the time left once stages 1-3 and the first predictions
 * are done, at the pace the run actually kept: where the probe misjudged the machine (a rested VM
 * bursts), the transfer absorbs the difference, so the job still ends near its budget.
 */
export function refitTransfer(
  preset: Preset & { budget: BudgetPlan },
  work: Workload,
  spent: number,
  costs: UnitCosts = REFERENCE_COSTS,
): TransferFit {
  // Seconds of the reference machine (the plan's speed is in the pace).
  const base = totalSeconds(estimateSeconds(preset, { ...work, transfer: false }, costs));
  const pace = spent / base;
  const left = preset.budget.minutes * 60 - spent;
  const scaled = (factor: number) => scaleSteps(preset.transferStages, factor);
  const transfer = (factor: number) =>
    pace *
    (totalSeconds(
      estimateSeconds({ ...preset, transferStages: scaled(factor) }, work, costs),
    ) - base);
  const factor = largestFitting((f) => transfer(f) <= left, FIT_RANGE[0], FIT_RANGE[1]);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    factor,
    pace: round(pace),
    spent: round(spent),
    left: round(left),
    fits: transfer(FIT_RANGE[0]) <= left,
    stages: scaled(factor),
  };
}
