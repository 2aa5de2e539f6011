/**
 * The training loop, kept small: a stage is a list of rounds, a round is `stepsPerRound` steps
 * (step.ts) then a validation pass (validate.ts). Everything else (progress display, metric logs,
 * checkpoints, the blend search's record) is a callback around it, the fastai way, so the loop
 * reads as the recipe does.
 */
import type { tf } from "../engine/tf.ts";
import type { SeedModel } from "../model/seed_model.ts";
import { type LossWeights, SEED_LOSS_WEIGHTS } from "../model/loss.ts";
import type { StageSpec } from "../run/presets.ts";
import type { RoundMetrics } from "../run/checkpoint.ts";
import type { ActivationSet } from "./features.ts";
import type { Part } from "../model/inference.ts";
import type { BatchRunner } from "../model/runner.ts";
import { timed } from "../phases.ts";
import { checkStop } from "../stop.ts";
import type { NativeStepper } from "./native_step.ts";
import { type BatchSource, setLearningRate, type StepLoss, trainStep } from "./step.ts";
import type { StepRecipe } from "./mix.ts";
import { learningRateAt } from "./schedule.ts";
import type { WeightAverage } from "./ema.ts";
import { validate } from "./validate.ts";

export interface RoundInfo {
  stage: StageSpec;
  stageIndex: number;
  /** 1-based round number over the whole run. */
  round: number;
  totalRounds: number;
  /** Global step counter at the start of the round. */
  step: number;
  /** The global step at which the round's stage started (its schedule counts from there). */
  stageStart: number;
  /** The validation photos are among those the run trains on (the transfer): its validation
   * scores are not held-out ones, and progress lines say so. */
  valTrained?: boolean;
}

export interface Callback {
  onRoundBegin?(info: RoundInfo): void | Promise<void>;
  onStep?(info: RoundInfo, stepInRound: number, loss: StepLoss): void | Promise<void>;
  /** `average`: the weights' moving average, when the run keeps one (the checkpoint saves it). */
  onRoundEnd?(
    info: RoundInfo,
    metrics: RoundMetrics,
    optimizer: tf.Optimizer,
    average?: WeightAverage,
  ): void | Promise<void>;
}

/** What a round trains and validates on. */
export interface RoundData {
  source: BatchSource;
  val: ActivationSet;
  /** Maps `val` to pooled features (null: `val` already is pooled features). */
  valPart: Part | null;
  /** A native runner of valPart and the heads, made afresh for each validation pass. */
  valRunner?: () => Promise<BatchRunner>;
  /** Steps taken natively instead of `trainStep` (see native_step.ts). */
  native?: NativeStepper;
}

/** What takes a stage's steps: the native step where the stage has one, else tfjs'. */
export interface StepEngine {
  model: SeedModel;
  source: BatchSource;
  optimizer: tf.Optimizer;
  native?: NativeStepper;
  lossWeights: LossWeights;
  recipe?: StepRecipe;
}

/** Step k on the stage's engine, at rate `lr` when a schedule (or the lr finder) sets one. */
export async function takeStep(engine: StepEngine, k: number, lr?: number): Promise<StepLoss> {
  const { model, source, optimizer, native } = engine;
  if (native) return await native.step(k, lr);
  if (lr !== undefined) setLearningRate(optimizer, lr);
  return await trainStep(model, source, k, optimizer, engine.lossWeights, engine.recipe);
}

/** Runs one round: its steps (batches `info.step`, `info.step + 1`, ...) then validation. */
export async function runRound(
  model: SeedModel,
  info: RoundInfo,
  data: RoundData,
  optimizer: tf.Optimizer,
  callbacks: Callback[],
  weights: LossWeights = SEED_LOSS_WEIGHTS,
  recipe?: StepRecipe,
  average?: WeightAverage,
): Promise<RoundMetrics> {
  for (const cb of callbacks) await cb.onRoundBegin?.(info);
  const sum = { total: 0, main: 0, center: 0, aux: 0 };
  const { source, native } = data;
  const engine: StepEngine = { model, source, optimizer, native, lossWeights: weights, recipe };
  await timed("training steps", async () => {
    const { stage } = info;
    const scheduled = (stage.schedule ?? "constant") !== "constant";
    for (let s = 0; s < stage.stepsPerRound; s++) {
      const k = info.step + s;
      const lr = scheduled
        ? learningRateAt(stage, k - info.stageStart, stage.rounds * stage.stepsPerRound)
        : undefined;
      const loss = await takeStep(engine, k, lr);
      if (!native) average?.update();
      for (const key of Object.keys(sum) as (keyof StepLoss)[]) sum[key] += loss[key];
      for (const cb of callbacks) await cb.onStep?.(info, s + 1, loss);
      checkStop(`in round ${info.round}, after step ${s + 1}`);
    }
    // Validation and checkpoints read tfjs' variables and optimizer.
    await native?.store(optimizer, average);
  });
  const n = Math.max(info.stage.stepsPerRound, 1);
  const metrics = await timed("validation", () => validateBoth(model, data, average));
  const result: RoundMetrics = {
    ...metrics,
    loss: { total: sum.total / n, main: sum.main / n, center: sum.center / n, aux: sum.aux / n },
  };
  await timed("checkpoints and logs", async () => {
    for (const cb of callbacks) await cb.onRoundEnd?.(info, result, optimizer, average);
  });
  return result;
}

/** The round's validation: of the weights, and of their moving average when there is one (the
 * better one's scores lead; the model holds the raw weights again after). */
async function validateBoth(
  model: SeedModel,
  data: RoundData,
  average?: WeightAverage,
): Promise<Omit<RoundMetrics, "loss">> {
  const check = async () => {
    const { probabilities: _, ...metrics } = await validate(
      model,
      data.val,
      data.valPart,
      data.valRunner,
    );
    return metrics;
  };
  const raw = await check();
  if (!average) return raw;
  average.swap();
  let averaged;
  try {
    averaged = await check();
  } finally {
    average.swap();
  }
  const scores = (m: typeof raw) => ({ main: m.main, aux: m.aux, blend: m.blend, alpha: m.alpha });
  const kept = averaged.blend > raw.blend ? "average" : "raw";
  return {
    ...(kept === "average" ? averaged : raw),
    ema: { raw: scores(raw), average: scores(averaged), kept },
  };
}
