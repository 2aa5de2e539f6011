/**
 * What notebooks 03, 04 and 05 share: the dataset (with `DOGS_SMALL=1`, a linked slice of 40
 * photos per breed, so a CI run decodes 400 photos, not 9,025), the preset, the run folder under
 * `runsDir()`, and notebook 03's training call, which 04 and 05 make themselves when 03's run is
 * missing (on a complete run it only loads it back), so each notebook runs on its own.
 */
import { join } from "node:path";
import { readdir } from "node:fs/promises";
import {
  defaultDataset,
  defaultWeights,
  notebookMinutes,
  relativePaths,
  runsDir,
  smallData,
} from "../paths.ts";
import { budgetName, budgetPreset } from "./budget.ts";
import { linkSubset } from "../data/subset.ts";
import { isUserError } from "../errors.ts";
import { type Preset, PRESETS, smallPreset } from "../run/presets.ts";
import { changePreset, type PresetChanges } from "../run/preset_changes.ts";
import {
  openRun,
  train,
  type TrainingRun,
  type TrainOptions,
  type TrainResult,
} from "../train/run.ts";
import { openReproduction, type ReproduceOptions, type Reproduction } from "./reproduce.ts";
import type { Callback } from "../train/round.ts";
import { jobFiles } from "../layout.ts";
import type { SeedModel } from "../model/seed_model.ts";
import type { ImageCache } from "../data/cache.ts";
import { type Head, type Heatmap, heatmapOverlays } from "../predict/gradcam.ts";
import { showImages } from "../plot/images.ts";

/** Log lines in a notebook: printed as plain output, paths relative to the project. */
export function notebookLog(line: string): void {
  console.log(relativePaths(line));
}

/** The notebooks' dataset: the whole one, or with DOGS_SMALL=1 a slice of every breed. */
export async function notebookData(): Promise<string> {
  const data = defaultDataset();
  if (!smallData()) return data;
  const classes = (await readdir(data, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => e.name).sort();
  return await linkSubset(data, join(runsDir(), "small-data"), { classes, perClass: 40 });
}

/** The `cpu` preset with `changes` (the options of train and reproduce, lib/run/preset_changes.ts),
 * or its few-steps version with DOGS_SMALL=1 (before any DOGS_MINUTES plan). */
export function notebookPreset(changes: PresetChanges = {}): Preset {
  const preset = changePreset(PRESETS.cpu, changes);
  return smallData() ? smallPreset(preset) : preset;
}

/** The notebooks' reproduce folder (`notebook-cpu`, `notebook-cpu-5min` with DOGS_MINUTES=5,
 * `notebook-cpu+mixup=0.2` with changes); notebook 03 trains its `train/` part. */
export function notebookRunFolder(changes: PresetChanges = {}): string {
  const minutes = notebookMinutes();
  const preset = notebookPreset(changes);
  const name = minutes ? budgetName(preset, minutes) : preset.name;
  return join(runsDir(), `notebook-${name}`);
}

/** The preset the notebooks' run trains: DOGS_MINUTES plans it as `--minutes` does for a whole
 * job (03's stages and 05's transfer), once; the folder keeps the plan. */
async function plannedNotebookPreset(data: string, changes: PresetChanges): Promise<Preset> {
  const minutes = notebookMinutes();
  if (!minutes) return notebookPreset(changes);
  return await budgetPreset({
    data,
    preset: notebookPreset(changes),
    minutes,
    out: notebookRunFolder(changes),
    job: {},
    log: notebookLog,
    asked: `DOGS_MINUTES=${minutes}`,
  });
}

/** The notebooks' options: TrainOptions, and the preset's changes (`{ mixup: 0.2 }`...). */
export type NotebookRunOptions = Partial<TrainOptions> & { changes?: PresetChanges };

/** Notebook 03's run: the notebooks' data, weights, preset and seed 0, in `<folder>/train`. */
export async function notebookRunOptions(
  { changes = {}, ...extra }: NotebookRunOptions = {},
): Promise<TrainOptions> {
  const data = await notebookData();
  return {
    data,
    weights: defaultWeights(),
    out: jobFiles(notebookRunFolder(changes)).train,
    preset: await plannedNotebookPreset(data, changes),
    seed: 0,
    ...extra,
  };
}

/** Notebook 03's run, open for training stage by stage (re-opening closes the earlier handle). */
export async function openNotebookRun(extra: NotebookRunOptions = {}): Promise<TrainingRun> {
  return await withRelativePaths(async () => openRun(await notebookRunOptions(extra)));
}

/** Notebook 03's training run: trains it, resumes it, or (complete) loads it back. */
export async function trainNotebookRun(
  options: { callbacks?: Callback[]; log?: (line: string) => void } = {},
): Promise<TrainResult> {
  return await withRelativePaths(async () => train(await notebookRunOptions(options)));
}

/** An input error (a lock held by another kernel, a closed handle) with its paths relative to the
 * project, as every other line a notebook prints. */
async function withRelativePaths<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isUserError(error)) {
      // The kernel shows the stack, which kept the message it was made with.
      const message = error.message;
      error.message = relativePaths(message);
      if (error.stack) error.stack = error.stack.replace(message, error.message);
    }
    throw error;
  }
}

/** Notebook 05's steps on notebook 03's run: submissions, pseudo-labels, transfer. */
export async function openNotebookReproduction(
  extra: Partial<ReproduceOptions> = {},
): Promise<Reproduction> {
  const { data, weights, preset, seed } = await notebookRunOptions();
  return await withRelativePaths(() =>
    openReproduction({ data, weights, preset, seed, out: notebookRunFolder(), ...extra })
  );
}

/**
 * Grad-CAM heatmaps of cached photos laid over them, in a captioned grid (notebook 04): where a
 * head found the evidence for each photo's breed (`classes[i]`, default the head's top breed).
 * Returns the maps (for sentences computed from them).
 */
export async function showHeatmaps(
  model: SeedModel,
  cache: ImageCache,
  ids: readonly string[],
  options: { head?: Head; classes?: readonly number[]; captions?: string[]; columns?: number } = {},
): Promise<Heatmap[]> {
  const { maps, images } = await heatmapOverlays(model, cache, ids, options);
  await showImages(images, {
    columns: options.columns ?? 6,
    tile: 128,
    captions: options.captions,
  });
  return maps;
}
