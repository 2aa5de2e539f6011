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
  /** Sets the optimizer's state before the first round (a mid-stage resume). */
  restore?: (optimizer: tf.Optimizer) => Promise<void>;
}

/** Runs a stage's remaining rounds with a fresh optimizer of the stage's kind. */
export async function runStage(run: StageRun): Promise<void> {
  const { model, plan, startRound } = run;
  const { spec } = plan;
  prepareStage(model, spec);
  const optimizer = makeOptimizer(spec.optimizer);
  let native;
  try {
    await run.restore?.(optimizer);
    native = await run.data.nativeStep?.(spec);
    await native?.load(optimizer);
    for (let round = startRound; round <= plan.lastRound; round++) {
      const step = plan.firstStep + (round - plan.firstRound) * spec.stepsPerRound;
      const info = {
        stage: spec,
        stageIndex: plan.index,
        round,
        totalRounds: run.totalRounds,
        step,
      };
      await runRound(
        model,
        info,
        { ...run.data, native },
        optimizer,
        run.callbacks,
        run.lossWeights,
      );
    }
  } finally {
    await native?.release();
    disposeOptimizer(optimizer);
  }
}
