/**
 * The command-line options `deno task train` and `deno task reproduce` share, parsed once: data,
 * weights, preset, run folder, seed, smoke-test size, cache folder, help. Every value is checked
 * here, so a typo is one line naming the option instead of a run with seed NaN.
 */
import { readDataset } from "../data/readers.ts";
import { type DatasetListing, datasetNameParts } from "../data/dataset.ts";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { resolveDataset } from "../data/datasets.ts";
import { UsageError } from "../errors.ts";
import { defaultDataset, defaultWeights, fromRoot } from "../paths.ts";
import {
  type Preset,
  presetFlip,
  resolvePreset,
  type ScheduleKind,
  smallPreset,
} from "../run/presets.ts";
import { isPresetFile, readPresetFile } from "../run/preset_file.ts";
import { changePreset, type PresetChanges } from "../run/preset_changes.ts";
import { backboneNames, unfreezableStages } from "../model/backbones.ts";
import type { LossWeights } from "../model/loss.ts";
import type { StreamConfig } from "../augment/pipeline.ts";
import { DEFAULTS } from "../defaults.ts";
import type { Folds } from "../data/split.ts";
import { budgetName, budgetPreset } from "../pipeline/budget.ts";

export const RUN_OPTIONS = {
  data: { type: "string" },
  weights: { type: "string" },
  preset: { type: "string", default: "cpu" },
  out: { type: "string" },
  seed: { type: "string" },
  minutes: { type: "string" },
  small: { type: "boolean", default: false },
  "cache-dir": { type: "string" },
  "split-seed": { type: "string" },
  "val-fraction": { type: "string" },
  "test-fraction": { type: "string" },
  folds: { type: "string" },
  fold: { type: "string" },
  "center-weight": { type: "string" },
  "aux-weight": { type: "string" },
  "no-glu": { type: "boolean", default: false },
  without: { type: "string" },
  sampler: { type: "string" },
  lr: { type: "string" },
  rounds: { type: "string" },
  steps: { type: "string" },
  "batch-size": { type: "string" },
  "image-size": { type: "string" },
  backbone: { type: "string" },
  "unfreeze-from": { type: "string" },
  "cached-batches": { type: "string" },
  schedule: { type: "string" },
  warmup: { type: "string" },
  patience: { type: "string" },
  "label-smoothing": { type: "string" },
  mixup: { type: "string" },
  cutmix: { type: "string" },
  ema: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The options that change a preset (`deno task presets` takes them too). */
export const RECIPE_OPTIONS = {
  lr: RUN_OPTIONS.lr,
  rounds: RUN_OPTIONS.rounds,
  steps: RUN_OPTIONS.steps,
  "batch-size": RUN_OPTIONS["batch-size"],
  "image-size": RUN_OPTIONS["image-size"],
  backbone: RUN_OPTIONS.backbone,
  "unfreeze-from": RUN_OPTIONS["unfreeze-from"],
  "cached-batches": RUN_OPTIONS["cached-batches"],
  schedule: RUN_OPTIONS.schedule,
  warmup: RUN_OPTIONS.warmup,
  patience: RUN_OPTIONS.patience,
  "label-smoothing": RUN_OPTIONS["label-smoothing"],
  mixup: RUN_OPTIONS.mixup,
  cutmix: RUN_OPTIONS.cutmix,
  ema: RUN_OPTIONS.ema,
} as const;

/** The options `train` and `reproduce` share, as `--help` prints them. */
export const RUN_HELP = `Data and run folder:
  --data DIR          dataset root: ImageFolder (<class>/<photo>; a per-class part is carved off
                      as the test set) or competition layout (train.txt, train/, test/)
                      (default ../shared/data/imagewoof/train, or $DOGS_DATA);
                      "imagewoof" downloads ImageWoof once into data/datasets/
  --weights PATH      backbone weights: model.json / .h5 / folder, or "imagenet" (official Keras
                      file, downloaded once) (default ../shared/weights/mobilenet_v2_0.35_224)
  --out DIR           run folder (default data/runs/[<kind>-]<preset>[-<N>min]-seed<seed>-<data>,
                      e.g. reproduce-cpu-2min-seed0-imagewoof-train: <data> is the dataset
                      folder's name, its parent's too for a generic one such as train); a
                      folder holds one run: other data or settings are refused, a second process
                      on it too; the same command resumes an interrupted run
  --seed N            seed of every random choice, a whole number (default ${DEFAULTS.seed})
  --split-seed N      seed of the data split alone (default: --seed): runs that share it share
                      their validation and test photos and can be ensembled
  --val-fraction F    per-class validation fraction (default ${DEFAULTS.valFraction}, as the seed)
  --test-fraction F   ImageFolder data: per-class part carved off as the test set (default ${DEFAULTS.testFraction})
  --folds K --fold I  k-fold cross-validation: the labelled photos (the test part aside, the same
                      for every fold) dealt per class into K parts, part I (0 to K-1) validating
                      instead of --val-fraction (deno task sweep runs every fold)
  --cache-dir DIR     decoded-photo cache (default data/cache)

Recipe (a preset, then any of the changes after it; a changed preset is named after its
changes, cpu+mixup=0.2, and so is its default run folder):
  --preset NAME|FILE  cpu (default: MobileNetV2-0.35, cached trunk, minutes on a CPU) | seed
                      (Xception 299, the original, for a GPU) | quick (stage 1 alone, seconds),
                      or a preset file (JSON; deno task presets cpu > my.json to start one)
  --minutes N         wall-time budget: the preset's augmented views and steps scaled to finish
                      in about N minutes on this machine (cached presets; planned once, kept)
  --small             a few steps per stage (smoke test, CI)
  --lr L[,L...]       learning rate per stage, in order (training, then transfer stages; the
                      last value holds for the rest), or xF to scale every stage's
                      (default: the preset's; cpu: 1e-3 Adam, then 1e-4 SGD)
  --rounds N[,N...]   rounds per stage, the same way (default: the preset's; cpu: 4,2,2,1)
  --steps N           steps per round, every stage (default: the preset's; cpu: 150)
  --batch-size N      photos per batch, even: half as many breeds, two photos each (default 32)
  --image-size N      backbone input size in pixels (default: the preset's; cpu: 224)
  --backbone NAME[:A] mobilenet_v2 (width A, default 0.35 with the shipped weights) | xception
  --unfreeze-from S   the backbone stage stages 2-3 start training from, and where cached presets
                      cut the trunk: earlier trains more of it (default: the last two blocks, the
                      seed's; mobilenet_v2 block_15, xception block13); budgets (--minutes)
                      are priced for that default
  --cached-batches N  augmented batches cached per policy (cached presets; cpu: 480)
  --schedule S        learning rate over each stage: constant (default, the seed's) | cosine
                      (warmup, then cosine to 0) | one-cycle (fastai's: up from lr/25, then down)
  --warmup F          the part of each stage's steps spent warming up (cosine default 0,
                      one-cycle 0.25)
  --patience N        early stopping: a stage ends after N rounds without a better validation
                      blend (default: every round runs, as the seed)
  --label-smoothing E label smoothing of both heads' cross-entropy, in [0, 1) (default 0)
  --mixup A           mixup at the trainable part's input, Beta(A, A) weights (default 0: off)
  --cutmix A          CutMix where that input is a spatial map, Beta(A, A) areas (default 0: off;
                      with --mixup each batch picks one)
  --ema D             a moving average of the trainable weights, decay D per step (timm's model
                      EMA; try 0.99): validated beside the raw weights each round, the better one
                      kept by the checkpoint (default 0: none)
  --center-weight W   center loss weight (default ${DEFAULTS.lossWeights.center}; 0 disables)
  --aux-weight W      auxiliary head weight (default ${DEFAULTS.lossWeights.aux}; 0 disables)
  --no-glu            main softmax straight on pooled features (ablation)
  --without LIST      augmentations switched off (ablation), comma-separated from: splice, mask,
                      rotate, zoom, flip (default: none)
  --sampler S         seed (default: each batch 16 breeds drawn by frequency, two photos each,
                      which gives the center loss its pairs) | plain (32 photos drawn uniformly)`;

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Deno.args parsed with `options`; prints `help` and exits on -h; a bad option is a UsageError. */
export function parseCliArgs<const T extends Options>(help: string, options: T, args = Deno.args) {
  return parseCli(help, options, args, false).values;
}

/** As parseCliArgs, also returning the arguments that are not options (photos, folders). */
export function parseCli<const T extends Options>(
  help: string,
  options: T,
  args = Deno.args,
  allowPositionals = true,
) {
  const withHelp = { help: { type: "boolean", short: "h" }, ...options } as const;
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(args, withHelp),
      options: withHelp,
      allowPositionals,
    });
  } catch (error) {
    // Node's message for an unknown option goes on about positionals and leaves a quote open.
    const message = (error as Error).message.split("\n")[0].split(". To specify a positional")[0];
    throw new UsageError(`${message} (see --help)`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(help);
    Deno.exit(0);
  }
  return parsed;
}

/** Deno.args parsed with the shared run options plus `extra`. */
export function parseRunArgs<const T extends Options>(help: string, extra: T, args = Deno.args) {
  return parseCliArgs(help, { ...RUN_OPTIONS, ...extra }, args);
}

/** `--seed -1` as `--seed=-1`: parseArgs would take "-1" for an option. */
function joinNegativeValues(args: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : undefined;
    const next = args[i + 1];
    if (name && options[name]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/** An option's value parsed when it was given; undefined when it was left out (the library, or
 * the caller with `??`, fills it from DEFAULTS). */
export function given<T>(value: string | undefined, parse: (value: string) => T): T | undefined {
  return value === undefined ? undefined : parse(value);
}

/** `--flip` true, `--no-flip` false, neither undefined (the run's or the preset's choice). */
export function flipOption(values: { flip?: boolean; "no-flip"?: boolean }): boolean | undefined {
  if (values.flip && values["no-flip"]) throw new UsageError("--flip and --no-flip: choose one");
  return values.flip ? true : values["no-flip"] ? false : undefined;
}

/** A whole number (negative allowed), or a UsageError naming the option. */
export function integerOption(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(n)) {
    throw new UsageError(`--${name} '${value}': expected a whole number`);
  }
  return n;
}

/** A number in [min, max] (or (min, max) with `open`), or a UsageError naming the option. */
export function numberOption(
  name: string,
  value: string,
  range: { min: number; max: number; open?: boolean },
): number {
  const n = Number(value);
  const inside = range.open ? n > range.min && n < range.max : n >= range.min && n <= range.max;
  if (value.trim() === "" || !Number.isFinite(n) || !inside) {
    const [l, r] = range.open ? ["(", ")"] : ["[", "]"];
    throw new UsageError(
      `--${name} '${value}': expected a number in ${l}${range.min}, ${range.max}${r}`,
    );
  }
  return n;
}

export interface RunInputs {
  preset: Preset;
  seed: number;
  /** Dataset root (a named dataset such as "imagewoof" downloaded first). */
  data: string;
  weights: string;
  cacheDir?: string;
  /** The wall-time budget (`--minutes`): the preset is scaled to it once the backend is up. */
  minutes?: number;
  splitSeed?: number;
  valFraction?: number;
  testFraction?: number;
  folds?: Folds;
  lossWeights: LossWeights;
  glu: boolean;
  without?: StreamConfig["without"];
  sampler?: StreamConfig["sampler"];
}

export type RunValues = {
  [K in keyof typeof RUN_OPTIONS]?: (typeof RUN_OPTIONS)[K]["type"] extends "boolean" ? boolean
    : string;
};

/** A comma-separated list of numbers, each checked by `parse`. */
function listOption(name: string, value: string, parse: (v: string) => number): number[] {
  const parts = value.split(",");
  if (parts.some((p) => p.trim() === "")) {
    throw new UsageError(`--${name} '${value}': expected numbers separated by commas`);
  }
  return parts.map((p) => {
    try {
      return parse(p.trim());
    } catch {
      throw new UsageError(`--${name} '${value}': '${p}' is not ${describe(name)}`);
    }
  });
}

function describe(name: string): string {
  return name === "lr" ? "a learning rate in (0, 10)" : "a whole number from 1 to 100000";
}

function wholeOption(name: string, value: string, min: number, max: number): number {
  const n = integerOption(name, value);
  if (n < min || n > max) {
    throw new UsageError(`--${name} '${value}': expected a whole number from ${min} to ${max}`);
  }
  return n;
}

/** `--lr`, `--rounds`, ... as changes to the preset (see lib/run/preset_changes.ts). */
export function presetChanges(values: RunValues): PresetChanges {
  const changes: PresetChanges = {};
  const lr = values.lr;
  if (lr !== undefined) {
    if (lr.startsWith("x")) {
      changes.lrScale = numberOption("lr", lr.slice(1), { min: 0, max: 1000, open: true });
    } else {
      changes.lr = listOption(
        "lr",
        lr,
        (v) => numberOption("lr", v, { min: 0, max: 10, open: true }),
      );
    }
  }
  const whole = (name: keyof RunValues & string, min: number, max: number) =>
    given(values[name] as string | undefined, (v) => wholeOption(name, v, min, max));
  if (values.rounds !== undefined) {
    changes.rounds = listOption(
      "rounds",
      values.rounds,
      (v) => wholeOption("rounds", v, 1, 100000),
    );
  }
  changes.steps = whole("steps", 1, 100000);
  changes.batchSize = whole("batch-size", 2, 4096);
  if (changes.batchSize !== undefined && changes.batchSize % 2) {
    throw new UsageError(
      `--batch-size '${values["batch-size"]}': expected an even number (two photos per breed)`,
    );
  }
  changes.size = whole("image-size", 32, 1024);
  changes.unfreezeFrom = values["unfreeze-from"];
  changes.cachedBatches = whole("cached-batches", 1, 1_000_000);
  changes.patience = whole("patience", 1, 100000);
  if (values.backbone !== undefined) {
    const [name, alpha] = values.backbone.split(":");
    if (!backboneNames().includes(name)) {
      throw new UsageError(
        `--backbone '${values.backbone}': expected ${backboneNames().join(" | ")}`,
      );
    }
    changes.backbone = {
      name,
      ...(alpha !== undefined
        ? { alpha: numberOption("backbone", alpha, { min: 0, max: 2, open: true }) }
        : {}),
    };
  }
  if (values.schedule !== undefined) {
    if (!SCHEDULES.includes(values.schedule as ScheduleKind)) {
      throw new UsageError(`--schedule '${values.schedule}': expected ${SCHEDULES.join(" | ")}`);
    }
    changes.schedule = values.schedule as ScheduleKind;
  }
  const fraction = (name: "warmup" | "label-smoothing") =>
    given(values[name], (v) => numberOption(name, v, { min: 0, max: 1 - 1e-9 }));
  changes.warmup = fraction("warmup");
  changes.labelSmoothing = fraction("label-smoothing");
  const mixing = (name: "mixup" | "cutmix") =>
    given(values[name], (v) => numberOption(name, v, { min: 0, max: 100 }));
  changes.mixup = mixing("mixup");
  changes.cutmix = mixing("cutmix");
  changes.ema = given(values.ema, (v) => numberOption("ema", v, { min: 0, max: 1 - 1e-9 }));
  return Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
}

const SCHEDULES: ScheduleKind[] = ["constant", "cosine", "one-cycle"];

/** The preset `--preset` names (a built-in one or a file), with the everyday options applied. */
async function chosenPreset(values: RunValues): Promise<Preset> {
  const preset = changedPreset(
    await presetByName(values.preset ?? "cpu", "--preset: "),
    values,
  );
  return values.small ? smallPreset(preset) : preset;
}

/** A preset with the recipe options applied; a stage the backbone lacks is a UsageError. */
export function changedPreset(preset: Preset, values: RunValues): Preset {
  const changed = changePreset(preset, presetChanges(values));
  const asked = values["unfreeze-from"];
  if (asked === undefined) return changed;
  // Only when asked: listing the stages creates every layer of the backbone.
  const { name } = changed.backbone;
  const stages = unfreezableStages(name, changed.backbone);
  if (!stages.includes(asked)) {
    throw new UsageError(
      `--unfreeze-from '${asked}': expected a stage of ${name}: ${stages.join(", ")}`,
    );
  }
  return changed;
}

/** A preset file, or a built-in preset by name (unknown: a UsageError, `label` before it). */
export async function presetByName(name: string, label = ""): Promise<Preset> {
  if (isPresetFile(name)) return await readPresetFile(name);
  try {
    return resolvePreset(name);
  } catch (error) {
    throw new UsageError(`${label}${(error as Error).message}`);
  }
}

/** What the shared options mean, with their defaults. */
export async function runInputs(values: RunValues): Promise<RunInputs> {
  const preset = await chosenPreset(values);
  const minutes = given(values.minutes, (v) => numberOption("minutes", v, { min: 0, max: 10080 }));
  if (minutes !== undefined && values.small) {
    throw new UsageError("--minutes and --small: choose one (--small is a fixed smoke test)");
  }
  if (minutes === 0) throw new UsageError("--minutes 0: expected a budget above 0");
  const weight = (name: "center-weight" | "aux-weight") =>
    given(values[name], (v) => numberOption(name, v, { min: 0, max: 100 }));
  return {
    preset,
    minutes,
    seed: given(values.seed, (v) => integerOption("seed", v)) ?? DEFAULTS.seed,
    data: await resolveDataset(values.data ?? defaultDataset()),
    weights: values.weights ?? defaultWeights(),
    cacheDir: values["cache-dir"],
    splitSeed: given(values["split-seed"], (v) => integerOption("split-seed", v)),
    valFraction: given(
      values["val-fraction"],
      (v) => numberOption("val-fraction", v, { min: 0, max: 1, open: true }),
    ),
    testFraction: given(
      values["test-fraction"],
      (v) => numberOption("test-fraction", v, { min: 0, max: 0.99 }),
    ),
    folds: foldsOption(values),
    lossWeights: {
      center: weight("center-weight") ?? DEFAULTS.lossWeights.center,
      aux: weight("aux-weight") ?? DEFAULTS.lossWeights.aux,
    },
    glu: !values["no-glu"],
    ...withoutOption(values.without),
    ...samplerOption(values.sampler),
  };
}

const AUGMENTATIONS = ["splice", "mask", "rotate", "zoom", "flip"] as const;

/** `--without splice,mask`: those parts of the policies off. */
function withoutOption(value?: string): { without?: StreamConfig["without"] } {
  if (value === undefined) return {};
  const names = value.split(",").map((n) => n.trim());
  const unknown = names.filter((n) => !(AUGMENTATIONS as readonly string[]).includes(n));
  if (unknown.length || !names.length) {
    throw new UsageError(`--without '${value}': expected some of ${AUGMENTATIONS.join(", ")}`);
  }
  return { without: Object.fromEntries(names.map((n) => [n, false])) };
}

/** `--sampler plain`; the seed's sampler is the default, and no setting (old folders resume). */
function samplerOption(value?: string): { sampler?: StreamConfig["sampler"] } {
  if (value === undefined || value === "seed") return {};
  if (value === "plain") return { sampler: "plain" };
  throw new UsageError(`--sampler '${value}': expected seed or plain`);
}

/** `--folds K --fold I`: both or neither, and not with --val-fraction (a fold is the validation). */
function foldsOption(values: RunValues): Folds | undefined {
  if (values.folds === undefined && values.fold === undefined) return undefined;
  if (values.folds === undefined || values.fold === undefined) {
    throw new UsageError(
      "--folds K and --fold I go together (deno task sweep --folds K runs every fold)",
    );
  }
  if (values["val-fraction"] !== undefined) {
    throw new UsageError("--val-fraction and --folds: a fold is the validation part, choose one");
  }
  const count = wholeOption("folds", values.folds, 2, 100);
  return { count, index: wholeOption("fold", values.fold, 0, count - 1) };
}

/**
 * The default run folder: `data/runs/<kind>-<preset>-seed<seed>[-fold<I>of<K>]-<dataset>` (the preset named with
 * its budget, `cpu-5min`, under `--minutes`), the dataset named by
 * the last two parts of its path (`imagewoof-train`), so runs on different data never share one.
 */
export function defaultRunFolder(
  kind: string,
  inputs: Pick<RunInputs, "preset" | "seed" | "data" | "minutes" | "folds">,
): string {
  // A folder called train or images says little alone: imagewoof/train is imagewoof-train.
  const name = datasetNameParts(inputs.data).map((part) => part.replace(/[^A-Za-z0-9_.-]+/g, "_"))
    .filter((p) => p && p !== ".").join("-");
  const prefix = kind ? `${kind}-` : "";
  const preset = inputs.minutes ? budgetName(inputs.preset, inputs.minutes) : inputs.preset.name;
  const fold = inputs.folds ? `-fold${inputs.folds.index}of${inputs.folds.count}` : "";
  return fromRoot("data", "runs", `${prefix}${preset}-seed${inputs.seed}${fold}-${name}`);
}

/** What a whole job's plan depends on beyond its run (reproduce). */
type JobPlan = { transfer?: boolean; flip?: boolean; valFraction?: number; testFraction?: number };

/** The settings a run opens with: the inputs, their preset planned (`--minutes`), the folder. */
export async function runSettings(inputs: RunInputs, out: string, job?: JobPlan) {
  const { minutes, ...settings } = inputs;
  // The command's clock starts with the process: its stages are refitted to the time left.
  const budgetClock = minutes === undefined ? undefined : {
    start: 0,
    job: job && {
      flip: job.flip ?? presetFlip(inputs.preset),
      transfer: job.transfer ?? DEFAULTS.transfer,
    },
  };
  // A budget prices the dataset's photos: listed once, for the plan and the runs alike.
  const listing = minutes === undefined ? undefined : await readDataset(inputs.data);
  const preset = await plannedPreset(inputs, out, job, listing);
  return { ...settings, preset, out, budgetClock, listing };
}

/** The preset a run works with: the chosen one, or under `--minutes` the one planned to fit (or
 * kept from the folder's start). `job` marks a whole job (reproduce) and its settings. */
function plannedPreset(
  inputs: RunInputs,
  out: string,
  job?: JobPlan,
  listing?: DatasetListing,
): Promise<Preset> {
  if (inputs.minutes === undefined) return Promise.resolve(inputs.preset);
  const { valFraction, testFraction, ...settings } = job ?? {};
  return budgetPreset({
    data: inputs.data,
    preset: inputs.preset,
    minutes: inputs.minutes,
    out,
    job: job ? settings : undefined,
    valFraction: inputs.folds ? 1 / inputs.folds.count : valFraction,
    testFraction,
    listing,
  });
}
