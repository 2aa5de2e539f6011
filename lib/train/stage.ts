/**
 * A stage as the recipe states it: rounds `firstRound..lastRound` of one optimizer, one policy and
 * one set of trainable layers. The loop is short on purpose: what happens around a round
 * (progress, metrics log, checkpoints) is in the callbacks.
 */
import { tf } from "../engine/tf.ts";
import type { SeedModel } from "../model/seed_model.ts";
import type { LossWeights } from "../model/loss.ts";
import type { StageSpec } from "../run/presets.ts";
import type { StageData } from "./stage_inputs.ts";
import { type Callback, runRound } from "./round.ts";
import { disposeOptimizer, makeOptimizer, prepareStage } from "./step.ts";
import type { StepRecipe } from "./mix.ts";
import { WeightAverage } from "./ema.ts";
import { trainableVariables } from "../model/seed_model.ts";

export interface StagePlan {
  /** 0-based position in the run; readers call it "stage index + 1". */
  index: number;
  spec: StageSpec;
  /** 1-based rounds over the whole run. */
  firstRound: number;
  lastRound: number;
  /** Training steps done by the run before this stage (the batch cursor). */
  firstStep: number;
}

/** Where each stage's rounds and steps start. */
export function planStages(stages: readonly StageSpec[]): StagePlan[] {
  let round = 0;
  let step = 0;
  return stages.map((spec, index) => {
    const plan = {
      index,
      spec,
      firstRound: round + 1,
      lastRound: round + spec.rounds,
      firstStep: step,
    };
    round += spec.rounds;
    step += spec.rounds * spec.stepsPerRound;
    return plan;
  });
}

export interface StageRun {
  model: SeedModel;
  plan: StagePlan;
  data: StageData;
  /** First round to run (later than `plan.firstRound` when resuming mid-stage). */
  startRound: number;
  totalRounds: number;
  callbacks: Callback[];
  lossWeights: LossWeights;
  /** Label smoothing and mixing (the preset's) and the seed they are drawn from. */
  recipe?: StepRecipe;
  /** The validation blend of the stage's rounds already done (a resume), for early stopping. */
  earlier?: number[];
  /** Says why a stage stopped early. */
  log?: (line: string) => void;
  /** The decay of the weights' moving average (lib/train/ema.ts; undefined: none). */
  ema?: number;
  /** The run trains on its validation photos (RoundInfo.valTrained). */
  valTrained?: boolean;
  /** Sets the optimizer's state (and the moving average) before the first round (a mid-stage
   * resume). */
  restore?: (optimizer: tf.Optimizer, average?: WeightAverage) => Promise<void>;
}

/**
 * Early stopping: whether a stage whose rounds so far scored `blends` (validation blend accuracy,
 * in order) has gone `patience` rounds without beating its best. A pure function of the history,
 * so a resumed run decides as the uninterrupted one did.
 */
export function stoppedEarly(blends: readonly number[], patience: number | undefined): boolean {
  if (!patience || !blends.length) return false;
  const best = blends.indexOf(Math.max(...blends));
  return blends.length - 1 - best >= patience;
}

/** Runs a stage's remaining rounds with a fresh optimizer of the stage's kind, until it ends or
 * stops early (its `patience`). */
export async function runStage(run: StageRun): Promise<void> {
  const { model, plan, startRound } = run;
  const { spec } = plan;
  prepareStage(model, spec);
  const optimizer = makeOptimizer(spec.optimizer);
  const average = run.ema ? new WeightAverage(trainableVariables(model), run.ema) : undefined;
  let native;
  try {
    await run.restore?.(optimizer, average);
    native = await run.data.nativeStep?.(spec);
    await native?.load(optimizer, average);
    const blends = [...run.earlier ?? []];
    for (let round = startRound; round <= plan.lastRound; round++) {
      const step = plan.firstStep + (round - plan.firstRound) * spec.stepsPerRound;
      const info = {
        stage: spec,
        stageIndex: plan.index,
        round,
        totalRounds: run.totalRounds,
        step,
        stageStart: plan.firstStep,
        valTrained: run.valTrained,
      };
      const metrics = await runRound(
        model,
        info,
        { ...run.data, native },
        optimizer,
        run.callbacks,
        run.lossWeights,
        run.recipe,
        average,
      );
      blends.push(metrics.blend);
      if (round < plan.lastRound && stoppedEarly(blends, spec.patience)) {
        run.log?.(
          `stage ${plan.index + 1} (${spec.name}) stops early after round ${round}: ` +
            `${spec.patience} round(s) without a better validation blend`,
        );
        break;
      }
    }
  } finally {
    await native?.release();
    disposeOptimizer(optimizer);
    average?.dispose();
  }
}
