/**
 * The toolkit in one import, for notebooks and scripts:
 *
 * ```ts
 * import { initBackend, openRun, PRESETS, showFigure } from "../lib/mod.ts";
 * ```
 *
 * Grouped as the recipe goes: backend and paths, data, augmentation, model, the run folder,
 * training, prediction, the whole pipeline, figures. Deeper modules stay importable for what is
 * not here.
 */

// Backend, paths, seeded randomness
export { initBackend, tf } from "./engine/tf.ts";
export { onnxRuntime } from "./engine/onnx.ts";
export {
  cacheDir,
  defaultDataset,
  defaultWeights,
  relativePaths,
  runsDir,
  smallData,
} from "./paths.ts";
export { Rng } from "./rng.ts";
export { DataError, UsageError } from "./errors.ts";

// Data: listing, split, decoding
export { readDataset } from "./data/readers.ts";
export { countByLabel, type LabelledImage } from "./data/dataset.ts";
export { LabelMap } from "./data/labels.ts";
export { readNames } from "./data/names.ts";
export { displayName } from "./data/breeds.ts";
export { prepareData, type PreparedData, readSplit } from "./data/prepare.ts";
export { groupByClass } from "./data/split.ts";
export { loadImage, type RgbImage } from "./data/image.ts";
export { cacheImages } from "./data/cache.ts";
export { linkSubset } from "./data/subset.ts";
export { readRows, readTable } from "./data/table.ts";

// Augmentation
export {
  flipHorizontal,
  maskQuadrant,
  randomZoom,
  rotate,
  splice,
  SPLICE_CUTS,
  spliceMask,
  zoom,
} from "./augment/ops.ts";
export { POLICIES } from "./augment/policy.ts";
export { peekBatch, peekSamples, poolStream } from "./augment/pipeline.ts";
export { scaledPhotos } from "./augment/batch.ts";

// Model: backbone, the seed's heads, losses, blending
export { accuracy, argmaxRow, blend, searchBlend } from "./model/blend.ts";
export { modelParts } from "./model/summary.ts";
export { SEED_LOSS_WEIGHTS } from "./model/loss.ts";

// The run folder: presets, checkpoints, history, loading a trained run
export { type Preset, PRESETS, smallPreset, type StageSpec } from "./run/presets.ts";
export { loadRun } from "./run/load.ts";
export { type HistoryRow, readHistory } from "./run/history.ts";
export { checkpointName, listCheckpoints } from "./run/checkpoint.ts";
export { jobFiles, runFiles, submissionFiles } from "./layout.ts";
export { DEFAULTS } from "./defaults.ts";

// Training, stage by stage
export { openRun, train, TrainingRun, type TrainOptions } from "./train/run.ts";
export { trainingPool } from "./train/training_run.ts";
export { notebookProgressCallback, progressCallback } from "./train/callbacks.ts";
export { showStepParts, type StepByHand } from "./train/step_by_hand.ts";

// Prediction, analysis, submissions, export, ensembles
export { loadFinalModel, predictPhotos, type Probabilities } from "./predict/predict.ts";
export {
  byConfidence,
  confidences,
  confidentMistakes,
  confusionMatrix,
  perClassAccuracy,
  topLosses,
  truthOf,
} from "./predict/analysis.ts";
export { predictFiles } from "./predict/photos.ts";
export { exportRun } from "./predict/export.ts";
export { ablationVerdicts, readAblationBench } from "./predict/ablation.ts";
export { classMeans, gluFeatures, project, spread } from "./predict/feature_space.ts";
export { featureMapModel, gradCam, overlay } from "./predict/gradcam.ts";
export { averageRuns, readRunProbabilities, searchEnsembleAlpha } from "./predict/ensemble.ts";
export { readAnswers, scoreSubmission, writeSubmissions } from "./predict/submission.ts";

// The whole recipe, and what the notebooks share
export { openReproduction, reproduce, Reproduction } from "./pipeline/reproduce.ts";
export { budgetPreset } from "./pipeline/budget.ts";
export { ensembleRuns } from "./pipeline/ensemble.ts";
export { joinSweep, openSweep, runLocal, type SweepSpec } from "./pipeline/sweep.ts";
export { submitSlurm, waitForSlurm } from "./pipeline/slurm.ts";
export {
  notebookData,
  notebookLog,
  notebookPreset,
  notebookRunFolder,
  openNotebookReproduction,
  openNotebookRun,
  showHeatmaps,
  trainNotebookRun,
} from "./pipeline/notebook.ts";

// Figures and tables
export {
  barChart,
  heatmap,
  lineChart,
  loadPlotly,
  scatterChart,
  showFigure,
  stackedBars,
} from "./plot/figure.ts";
export { showBatch, showImages } from "./plot/images.ts";
export { showTable } from "./plot/table.ts";
export { accuracyCurves, lossCurves } from "./plot/training.ts";
export { lrFinderCurve } from "./plot/lr_find.ts";
export { learningRateAt, stageLearningRates } from "./train/schedule.ts";
export { type LrFindResult, valley } from "./train/lr_find.ts";
export { changePreset, type PresetChanges } from "./run/preset_changes.ts";
export { parsePreset, presetJson, readPresetFile } from "./run/preset_file.ts";
export { accuracyPerMinute, readAccuracyBench } from "./plot/budget.ts";
export {
  blendReading,
  budgetReading,
  changeReading,
  confidenceReading,
  countsReading,
  lossReading,
  perBreedReading,
  splitReading,
  stageReading,
} from "./plot/readings.ts";
