/**
 * Training schedules. `seed` is the original recipe (Xception at 299, 30 rounds of 600 steps,
 * batch 32) for a machine with a real GPU; `cpu` runs the same three stages with the shipped
 * MobileNetV2-0.35 in minutes on a 2-core CPU, by caching the frozen trunk's activations for a
 * fixed number of augmented batches per policy (see lib/train/features.ts).
 */
import type { PolicyName } from "../augment/policy.ts";
import { DEFAULTS } from "../defaults.ts";

export interface OptimizerSpec {
  kind: "adam" | "sgd";
  learningRate: number;
  momentum?: number;
}

/** How a stage's learning rate moves over its steps (lib/train/schedule.ts). */
export type ScheduleKind = "constant" | "cosine" | "one-cycle";

export interface StageSpec {
  name: string;
  rounds: number;
  stepsPerRound: number;
  optimizer: OptimizerSpec;
  policy: PolicyName;
  /** Unfreeze the backbone's last blocks (stages 2-3) or keep it frozen (stage 1). */
  unfreeze: boolean;
  /** Left out: constant, the seed's. */
  schedule?: ScheduleKind;
  /** Cosine: the part of the stage's steps spent warming up linearly from 0 (default 0). */
  warmup?: number;
  /** Early stopping: the stage ends after this many rounds without a better validation blend
   * (left out: it runs all its rounds, the seed's). */
  patience?: number;
}

/** Regularisers of the loss beyond the seed's (all off when left out). */
export interface Regularization {
  /** Label smoothing epsilon of both heads' cross-entropy, in [0, 1). */
  labelSmoothing?: number;
  /** Mixup: each batch blended with a shuffled copy of itself at a Beta(a, a) weight, at the
   * trainable part's input (cached activations on the CPU presets). */
  mixup?: number;
  /** CutMix: a Beta(a, a)-sized box of the shuffled copy pasted in, where the input has a
   * spatial grid (images, or the trunk's activation map in stages that unfreeze the top). */
  cutmix?: number;
}

export interface Preset {
  name: string;
  backbone: {
    name: string;
    alpha?: number;
    size: number;
    /** The backbone stage stages 2-3 start training from (fastai's `freeze_to`), which is also
     * where cached presets cut the trunk. Left out: the backbone's own, the seed's last two
     * blocks (MobileNetV2 `block_15`, Xception `block13`). */
    unfreezeFrom?: string;
  };
  batchSize: number;
  /** "cached": train on cached trunk activations (CPU); "end-to-end": images every step. */
  mode: "cached" | "end-to-end";
  /** Augmented batches cached per policy in "cached" mode. */
  cachedBatches: number;
  stages: StageSpec[];
  /** Pseudo-label transfer: fine-tuning again from the best checkpoint (the seed: Transfer_DA,
   * then Transfer, then Train, with the stage-2 optimizer). */
  transferStages: StageSpec[];
  /** Label smoothing, mixup, CutMix (left out: the seed's loss). */
  regularize?: Regularization;
  /** An exponential moving average of the trainable weights, at this decay per step (timm's
   * model EMA; lib/train/ema.ts): validated beside the raw weights every round, the better kept.
   * Left out: none, the seed's. */
  ema?: number;
  /** Average each test prediction of a job with its mirror image (flip test-time augmentation).
   * A prediction setting, not a training one: it stays out of a training run's identity, and a
   * job folder records what it was made with (reproduce.json). Left out: off, the seed's. */
  flip?: boolean;
  /** Set when the preset was scaled to a wall-time budget (`--minutes`, lib/train/budget.ts): the
   * plan is part of the run's identity, so a resumed run keeps it. */
  budget?: BudgetPlan;
}

/** A preset scaled to a budget: the factor on its cached batches and steps, and why. */
export interface BudgetPlan {
  minutes: number;
  /** The factor on the base preset's cached batches and steps per round. */
  scale: number;
  /** This machine's seconds per second of the reference machine (the probe's ratio). */
  speed: number;
  /** The plan's estimated wall time, in seconds. */
  seconds: number;
}

const ADAM: OptimizerSpec = { kind: "adam", learningRate: 1e-3 };
const SGD: OptimizerSpec = { kind: "sgd", learningRate: 1e-4, momentum: 0.9 };

function stage(
  name: string,
  rounds: number,
  stepsPerRound: number,
  optimizer: OptimizerSpec,
  policy: PolicyName,
  unfreeze: boolean,
): StageSpec {
  return { name, rounds, stepsPerRound, optimizer, policy, unfreeze };
}

export const PRESETS: Record<string, Preset> = {
  seed: {
    name: "seed",
    backbone: { name: "xception", size: 299 },
    batchSize: 32,
    mode: "end-to-end",
    cachedBatches: 0,
    stages: [
      stage("frozen", 10, 600, ADAM, "Train_DA", false),
      stage("fine-tune", 10, 600, SGD, "Train_DA", true),
      stage("polish", 10, 600, SGD, "Train", true),
    ],
    // The seed's transfer: 10 rounds of each (its last phase calls an undefined `model_1_` and
    // crashes; here it trains with the stage-2 optimizer, as the two before it).
    transferStages: [
      stage("transfer-DA", 10, 600, SGD, "Transfer_DA", true),
      stage("transfer", 10, 600, SGD, "Transfer", true),
      stage("transfer-train", 10, 600, SGD, "Train", true),
    ],
  },
  cpu: {
    name: "cpu",
    backbone: { name: "mobilenet_v2", alpha: 0.35, size: 224 },
    batchSize: 32,
    mode: "cached",
    // ~2 augmented views per training photo of ImageWoof. 120 batches (half a view each) and 60
    // steps per round gave 84.6% validation / 83.7% test; 480 and 150 give 86.0% / 85.5% for a
    // few minutes more (bench/RESULTS.md).
    cachedBatches: 480,
    // The seed's optimizers. (SGD at 3e-3 in stages 2-3 was tried: it lost 4-5 points of
    // validation accuracy in 120 steps, bench/RESULTS.md.)
    stages: [
      stage("frozen", 4, 150, ADAM, "Train_DA", false),
      stage("fine-tune", 2, 150, SGD, "Train_DA", true),
      stage("polish", 2, 150, SGD, "Train", true),
    ],
    transferStages: [
      stage("transfer-DA", 1, 150, SGD, "Transfer_DA", true),
      stage("transfer", 1, 150, SGD, "Transfer", true),
      stage("transfer-train", 1, 150, SGD, "Train", true),
    ],
    // The one lever beyond noise in the ablation: +1.15 points (+0.89 to +1.67) on the carved-off
    // test part, three seeds, for twice the prediction time (bench/RESULTS.md).
    flip: true,
  },
};

/** Stage 1 alone (the backbone frozen, the heads on cached pooled features): a usable model in
 * seconds, for trying prediction, export and ensembling (notebook 06), not for accuracy. */
PRESETS.quick = {
  ...PRESETS.cpu,
  name: "quick",
  cachedBatches: 8,
  stages: [stage("frozen", 2, 40, ADAM, "Train_DA", false)],
  transferStages: [],
};

/** A preset scaled down for CI and notebooks' small-data switch. */
export function smallPreset(preset: Preset): Preset {
  return {
    ...preset,
    name: `${preset.name}-small`,
    cachedBatches: 4,
    stages: preset.stages.map((s) => ({ ...s, rounds: 1, stepsPerRound: 4 })),
    transferStages: preset.transferStages.map((s) => ({ ...s, rounds: 1, stepsPerRound: 4 })),
  };
}

/** Whether a job of this preset predicts with flip test-time augmentation (left out: DEFAULTS'). */
export function presetFlip(preset: Preset): boolean {
  return preset.flip ?? DEFAULTS.flip;
}

/** A preset by name (optionally its small version), or an error listing the known ones. */
export function resolvePreset(name: string, small = false): Preset {
  const preset = PRESETS[name];
  if (!preset) throw new Error(`unknown preset '${name}' (${Object.keys(PRESETS).join(", ")})`);
  return small ? smallPreset(preset) : preset;
}
