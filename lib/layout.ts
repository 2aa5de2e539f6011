/**
 * Where everything lives in the folders the toolkit writes: the one place their file names are
 * spelled. Readers and writers both go through these functions, so a run folder written by one
 * version of a module is found by every other.
 *
 * A job's folder (`deno task reproduce --out runs/x`, or a notebook's run):
 *
 * ```text
 * runs/x/
 *   reproduce.json        the job's dataset, preset and seed (a second job with others is refused)
 *   summary.json          accuracies, phases and seconds of the finished job
 *   transfer_fit.json     under --minutes: the transfer's steps fitted to the time left
 *   train/                the training run (stages 1-3): see runFiles
 *   transfer/             the pseudo-label run, started from train/'s best checkpoint
 *   submissions/          the three submission files and the probabilities, after transfer
 *     before-transfer/    the same from train/'s best checkpoint
 * ```
 *
 * Only `node:path` is imported: every layer may use it.
 */
import { join } from "node:path";

/** One training run's folder (a job's `train/` or `transfer/`, or a run of its own). */
export function runFiles(dir: string) {
  return {
    /** Dataset, preset, seed and settings: what the folder belongs to. */
    config: join(dir, "run.json"),
    /** One row per trained round. */
    history: join(dir, "metrics.json"),
    /** The same as a table, for a spreadsheet. */
    historyTable: join(dir, "metrics.csv"),
    /** Class index <-> the dataset's label. */
    labels: join(dir, "labels.tsv"),
    /** Every photo with its part: train, val or test. */
    split: join(dir, "split.tsv"),
    /** The labels of a carved-off test part, for scoring only. */
    testAnswers: join(dir, "test_answers.tsv"),
    /** Photos that did not decode, and why. */
    skipped: join(dir, "skipped.tsv"),
    /** Under `--minutes`: the later stages' steps, refitted at stage boundaries (kept on a
     * resume). */
    stageFits: join(dir, "stage_fits.json"),
    checkpoints: join(dir, "checkpoints"),
    /** Held while a process writes the folder. */
    lock: join(dir, ".lock"),
  };
}

/** Inside one checkpoint's folder (`checkpoints/round03-main0.8123-...`). */
export function checkpointFiles(dir: string) {
  return {
    weights: join(dir, "weights.bin"),
    /** Round, metrics, optimizer state's place in the weights, and the weights' SHA-256. */
    meta: join(dir, "meta.json"),
    /** Names, shapes and dtypes of the tensors in weights.bin, in order. */
    specs: join(dir, "specs.json"),
  };
}

/** The prefix a damaged checkpoint's folder gets when it is set aside. */
export const DAMAGED_PREFIX = "damaged-";

/** A whole job's folder (see the module's comment). */
export function jobFiles(out: string) {
  return {
    record: join(out, "reproduce.json"),
    summary: join(out, "summary.json"),
    /** Under `--minutes`: the transfer's steps, fitted to the time left (kept on a resume). */
    transferFit: join(out, "transfer_fit.json"),
    train: join(out, "train"),
    transfer: join(out, "transfer"),
    submissions: join(out, "submissions"),
    beforeTransfer: join(out, "submissions", "before-transfer"),
  };
}

/** The seed's three submission files and the probabilities behind them. */
export function submissionFiles(dir: string) {
  return {
    main: join(dir, "submission_main.txt"),
    aux: join(dir, "submission_aux.txt"),
    blend: join(dir, "submission_blend.txt"),
    probabilities: join(dir, "probabilities.tsv"),
  };
}

/**
 * A sweep's folder (`deno task sweep --out sweeps/x`): many reproduce jobs and their ensemble.
 *
 * ```text
 * sweeps/x/
 *   sweep.json            what the sweep runs: the runs' shared options, presets, seeds, folds
 *   tasks/<i>.args        run i's reproduce arguments, one per line (what a Slurm task reads)
 *   runs/<name>/          run i's job folder (see jobFiles), e.g. runs/cpu-seed0-fold1of5
 *   logs/                 each run's output (local: <name>.log; Slurm: task<i>-job<id>.log)
 *   slurm/sweep.sh        the job-array script, the same for every submission
 *   slurm/jobs.json       the Slurm jobs submitted, with their array tasks
 *   ensemble/             every run averaged (see ensembleFiles)
 *   summary.json          each run and the ensemble, on the test part
 * ```
 */
export function sweepFiles(dir: string) {
  return {
    record: join(dir, "sweep.json"),
    tasks: join(dir, "tasks"),
    task: (index: number) => join(dir, "tasks", `${index}.args`),
    runs: join(dir, "runs"),
    logs: join(dir, "logs"),
    script: join(dir, "slurm", "sweep.sh"),
    jobs: join(dir, "slurm", "jobs.json"),
    ensemble: join(dir, "ensemble"),
    summary: join(dir, "summary.json"),
  };
}

/** What `deno task ensemble` writes beside its submissions. */
export function ensembleFiles(dir: string) {
  return { ...submissionFiles(dir), record: join(dir, "ensemble.json") };
}

/** An exported model: a TF.js LayersModel and what a page needs to use it. */
export function exportFiles(dir: string) {
  return {
    model: join(dir, "model.json"),
    /** Named in model.json's manifest relative to it. */
    weights: join(dir, EXPORT_WEIGHTS),
    labels: join(dir, "labels.json"),
    preprocess: join(dir, "preprocess.json"),
    /** The page that classifies a photo or the camera's frames, and the onnxruntime-web files
     * it loads (its ES module bundle and the WebAssembly beside it). */
    page: join(dir, "index.html"),
    ort: join(dir, "ort"),
    ortBundle: join(dir, "ort", "ort.wasm.bundle.min.mjs"),
    ortWasm: join(dir, "ort", "ort-wasm-simd-threaded.wasm"),
  };
}

/** An export's ONNX model and what transformers.js reads beside it (a model folder's layout). */
export function onnxExportFiles(dir: string) {
  return {
    folder: join(dir, "onnx"),
    model: join(dir, "onnx", "model.onnx"),
    /** The int8 variant, where it keeps the accuracy (transformers.js' name for it). */
    quantized: join(dir, "onnx", "model_quantized.onnx"),
    config: join(dir, "config.json"),
    preprocessor: join(dir, "preprocessor_config.json"),
  };
}

/** The exported weights' file name, as model.json's manifest names it. */
export const EXPORT_WEIGHTS = "weights.bin";
