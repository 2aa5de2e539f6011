/**
 * The everyday options as changes to a preset: learning rates, rounds, steps, batch size, image
 * size, backbone and where its fine-tuning starts, schedule, early stopping and the regularisers.
 * `train`, `reproduce` and the notebooks' `openNotebookRun({ changes })` all go through
 * `changePreset`, so one option means the same everywhere. A changed preset is named after its changes (`cpu+mixup=0.2`): the name picks the
 * default run folder, and the recipe itself stays part of the run's identity.
 */
import type { Preset, ScheduleKind, StageSpec } from "./presets.ts";

export interface PresetChanges {
  /** Every stage's learning rate times this. */
  lrScale?: number;
  /** Stage learning rates in order (training stages, then transfer stages); the last value holds
   * for the stages after it. */
  lr?: number[];
  /** Rounds per stage, the same way. */
  rounds?: number[];
  /** Steps per round, every stage. */
  steps?: number;
  batchSize?: number;
  /** Input size of the backbone (pixels, square). */
  size?: number;
  backbone?: { name: string; alpha?: number };
  /** The backbone stage fine-tuning starts from (see `Preset.backbone.unfreezeFrom`). */
  unfreezeFrom?: string;
  /** Augmented batches cached per policy (cached presets). */
  cachedBatches?: number;
  schedule?: ScheduleKind;
  warmup?: number;
  patience?: number;
  labelSmoothing?: number;
  mixup?: number;
  cutmix?: number;
  /** The decay of the weights' moving average (0: none). */
  ema?: number;
}

/** The preset with `changes` applied and named after them; unchanged when there are none. */
export function changePreset(preset: Preset, changes: PresetChanges): Preset {
  const tokens = changeTokens(changes);
  if (!tokens.length) return preset;
  const all = [...preset.stages, ...preset.transferStages];
  const pick = (values: number[] | undefined, i: number) =>
    values?.length ? values[Math.min(i, values.length - 1)] : undefined;
  const stage = (spec: StageSpec, i: number): StageSpec => {
    const learningRate = (pick(changes.lr, i) ?? spec.optimizer.learningRate) *
      (changes.lrScale ?? 1);
    const changed: StageSpec = {
      ...spec,
      rounds: pick(changes.rounds, i) ?? spec.rounds,
      stepsPerRound: changes.steps ?? spec.stepsPerRound,
      optimizer: { ...spec.optimizer, learningRate },
    };
    if (changes.schedule) changed.schedule = changes.schedule;
    if (changes.warmup !== undefined) changed.warmup = changes.warmup;
    if (changes.patience !== undefined) changed.patience = changes.patience;
    return changed;
  };
  const stages = all.map(stage);
  const regularize = { ...preset.regularize };
  if (changes.labelSmoothing !== undefined) regularize.labelSmoothing = changes.labelSmoothing;
  if (changes.mixup !== undefined) regularize.mixup = changes.mixup;
  if (changes.cutmix !== undefined) regularize.cutmix = changes.cutmix;
  const backbone = {
    ...preset.backbone,
    ...(changes.backbone ?? {}),
    size: changes.size ?? preset.backbone.size,
  };
  if (changes.backbone && changes.backbone.alpha === undefined) delete backbone.alpha;
  // Another backbone has other stage names: its own cut, unless one is given too.
  if (changes.backbone && changes.backbone.name !== preset.backbone.name) {
    delete backbone.unfreezeFrom;
  }
  if (changes.unfreezeFrom !== undefined) backbone.unfreezeFrom = changes.unfreezeFrom;
  const changed: Preset = {
    ...preset,
    name: `${preset.name}+${tokens.join("+")}`,
    backbone,
    batchSize: changes.batchSize ?? preset.batchSize,
    cachedBatches: changes.cachedBatches ?? preset.cachedBatches,
    stages: stages.slice(0, preset.stages.length),
    transferStages: stages.slice(preset.stages.length),
    ...(Object.keys(regularize).length ? { regularize } : {}),
  };
  // `--ema 0` switches a preset's average off.
  if (changes.ema !== undefined) changed.ema = changes.ema || undefined;
  if (changed.ema === undefined) delete changed.ema;
  return changed;
}

/** The changes as name parts, in a fixed order: `lr=x0.5`, `mixup=0.2`, ... */
export function changeTokens(changes: PresetChanges): string[] {
  const list = (values: number[]) => values.join(",");
  const tokens: [string, unknown][] = [
    ["lr", changes.lr && list(changes.lr)],
    ["lr", changes.lrScale !== undefined ? `x${changes.lrScale}` : undefined],
    ["rounds", changes.rounds && list(changes.rounds)],
    ["steps", changes.steps],
    ["batch", changes.batchSize],
    ["size", changes.size],
    [
      "backbone",
      changes.backbone &&
      `${changes.backbone.name}${changes.backbone.alpha ? `-${changes.backbone.alpha}` : ""}`,
    ],
    ["unfreeze", changes.unfreezeFrom],
    ["cached", changes.cachedBatches],
    ["sched", changes.schedule],
    ["warmup", changes.warmup],
    ["patience", changes.patience],
    ["ls", changes.labelSmoothing],
    ["mixup", changes.mixup],
    ["cutmix", changes.cutmix],
    ["ema", changes.ema],
  ];
  return tokens.filter(([, v]) => v !== undefined && v !== "").map(([k, v]) => `${k}=${v}`);
}
