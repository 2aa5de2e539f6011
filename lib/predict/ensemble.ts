/**
 * Ensembling runs, the step the seed names and skips: average the test probabilities of several
 * runs that share their test part (seeds, presets, backbones, the folds of a k-fold split), each
 * head on its own, then blend the two averages. The blend weight is searched, as each run's own
 * was, on validation photos, with each run's best model of the training stages (the transfer
 * stages train on those photos, so they cannot judge them); or it is stated.
 */
import { resolve } from "node:path";
import { cacheImages } from "../data/cache.ts";
import { exists } from "../files.ts";
import { DataError, UsageError } from "../errors.ts";
import { sha256Hex } from "../files.ts";
import { digest } from "../download.ts";
import { LabelMap } from "../data/labels.ts";
import { readSplit } from "../data/prepare.ts";
import { readTable } from "../data/table.ts";
import { searchBlend } from "../model/blend.ts";
import { predictPhotos, type Probabilities } from "./predict.ts";
import { loadRun } from "../run/load.ts";
import { jobFiles, runFiles, submissionFiles } from "../layout.ts";

/** A run's final test probabilities, as `submissions/probabilities.tsv` holds them. */
export interface RunProbabilities {
  dir: string;
  /** The probabilities.tsv read. */
  file: string;
  ids: string[];
  labels: string[];
  probs: Probabilities;
}

/** Reads a reproduce run's final probabilities.tsv (image_id, main_<label>..., aux_<label>...). */
export async function readRunProbabilities(dir: string): Promise<RunProbabilities> {
  // After transfer the final files are in submissions/; without it, in before-transfer/.
  const job = jobFiles(dir);
  let file = submissionFiles(job.submissions).probabilities;
  if (!(await exists(file))) file = submissionFiles(job.beforeTransfer).probabilities;
  if (!(await exists(file))) {
    throw new DataError(
      job.submissions,
      "no probabilities.tsv: ensemble reproduce run folders (deno task reproduce)",
    );
  }
  const rows = await readTable(file, { delimiter: "\t" });
  if (!rows.length) throw new DataError(file, "no predictions");
  const columns = Object.keys(rows[0]);
  const labels = columns.filter((c) => c.startsWith("main_")).map((c) => c.slice(5));
  const k = labels.length;
  const main = new Float32Array(rows.length * k);
  const aux = new Float32Array(rows.length * k);
  rows.forEach((row, i) => {
    labels.forEach((label, c) => {
      main[i * k + c] = Number(row[`main_${label}`]);
      aux[i * k + c] = Number(row[`aux_${label}`]);
    });
  });
  return { dir, file, ids: rows.map((r) => r.image_id), labels, probs: { main, aux, classes: k } };
}

/**
 * What a run is, whatever its path: its training runs' identities (dataset, preset, seed, weights,
 * settings: the same identity trains the same weights) and the SHA-256 of its final probabilities.
 * A symlink to a run, or a copy of its folder, is the same run.
 */
export async function runKey(dir: string): Promise<{ identity: string; probabilities: string }> {
  const job = jobFiles(dir);
  const identities = [];
  for (const part of [job.train, job.transfer]) {
    const text = await Deno.readTextFile(runFiles(part).config).catch(() => undefined);
    identities.push(text === undefined ? null : JSON.parse(text).identity ?? null);
  }
  const record = await Deno.readTextFile(job.record).catch(() => "");
  const { file } = await readRunProbabilities(dir);
  return {
    identity: sha256Hex(JSON.stringify([identities, record])),
    probabilities: await digest(file, "sha256"),
  };
}

/** Refuses to average a run with itself (named twice, through a link, or copied). */
export async function refuseSameRuns(dirs: readonly string[]): Promise<void> {
  const twice = dirs.find((d, i) => dirs.findIndex((e) => resolve(e) === resolve(d)) !== i);
  if (twice) throw new UsageError(`--runs names ${twice} twice: an ensemble averages other runs`);
  const keys = await Promise.all(dirs.map(runKey));
  for (let i = 0; i < dirs.length; i++) {
    for (let j = 0; j < i; j++) {
      const same = keys[i].identity === keys[j].identity
        ? "the same dataset, preset, seed, weights and settings"
        : keys[i].probabilities === keys[j].probabilities
        ? "byte-identical probabilities"
        : undefined;
      if (same) {
        throw new UsageError(
          `--runs: ${dirs[j]} and ${dirs[i]} are one run (${same}): an ensemble averages ` +
            "different runs (other seeds, presets or backbones)",
        );
      }
    }
  }
}

/** The runs' probabilities averaged per head; runs must share test ids and label maps. */
export function averageRuns(runs: readonly RunProbabilities[]): RunProbabilities {
  const [first, ...rest] = runs;
  for (const run of rest) {
    const file = run.file;
    if (run.labels.join("\t") !== first.labels.join("\t")) {
      throw new DataError(file, `its labels differ from ${first.dir}'s: not the same classes`);
    }
    if (run.ids.join("\t") !== first.ids.join("\t")) {
      const other = new Set(first.ids);
      const odd = run.ids.find((id) => !other.has(id)) ??
        run.ids.find((id, i) => id !== first.ids[i]);
      throw new DataError(
        file,
        `its test ids differ from ${first.dir}'s (first: '${odd}'): runs of another split ` +
          `(use the same --split-seed)`,
      );
    }
  }
  const mean = (pick: (p: Probabilities) => Float32Array) => {
    const out = new Float32Array(pick(first.probs).length);
    for (const run of runs) pick(run.probs).forEach((v, i) => (out[i] += v / runs.length));
    return out;
  };
  return {
    dir: runs.map((r) => r.dir).join(" + "),
    file: "",
    ids: first.ids,
    labels: first.labels,
    probs: { main: mean((p) => p.main), aux: mean((p) => p.aux), classes: first.probs.classes },
  };
}

/**
 * The blend weight for averaged runs, searched on validation photos with each run's best model of
 * the training stages. Each photo is predicted by the runs that held it out, averaged: runs of one
 * split all predict the same photos; the folds of a k-fold split each predict their own (the
 * out-of-fold predictions, which together cover every labelled photo). A photo is never judged by
 * a model that trained on it.
 */
export async function searchEnsembleAlpha(
  dirs: readonly string[],
  options: { cacheDir?: string; log?: (line: string) => void } = {},
): Promise<{ alpha: number; accuracy: number; photos: number; outOfFold: boolean }> {
  const splits = await Promise.all(dirs.map((d) => readSplit(jobFiles(d).train)));
  const labels = splits[0].labels;
  const classes = labels.size;
  // Per photo: its label, the sums of the predictions of the runs that held it out, and how many.
  const photos = new Map<
    string,
    { label: string; main: Float32Array; aux: Float32Array; n: number }
  >();
  for (const [i, dir] of dirs.entries()) {
    const val = splits[i].val;
    if (splits[i].labels.labels.join("\t") !== labels.labels.join("\t")) {
      throw new DataError(
        runFiles(jobFiles(dir).train).split,
        `its classes differ from ${dirs[0]}'s`,
      );
    }
    const p = await predictValidation(dir, val, options);
    val.forEach((photo, j) => {
      const entry = photos.get(photo.id) ?? {
        label: photo.label,
        main: new Float32Array(classes),
        aux: new Float32Array(classes),
        n: 0,
      };
      for (let c = 0; c < classes; c++) {
        entry.main[c] += p.main[j * classes + c];
        entry.aux[c] += p.aux[j * classes + c];
      }
      entry.n++;
      photos.set(photo.id, entry);
    });
  }
  const entries = [...photos.values()];
  const main = new Float32Array(entries.length * classes);
  const aux = new Float32Array(entries.length * classes);
  entries.forEach((entry, j) => {
    for (let c = 0; c < classes; c++) {
      main[j * classes + c] = entry.main[c] / entry.n;
      aux[j * classes + c] = entry.aux[c] / entry.n;
    }
  });
  const truth = Int32Array.from(entries, (entry) => labels.toIndex(entry.label));
  const search = searchBlend(main, aux, truth, classes);
  const outOfFold = entries.some((entry) => entry.n !== dirs.length);
  return { alpha: search.alpha, accuracy: search.accuracy, photos: entries.length, outOfFold };
}

/** A run's validation photos as its best model of the training stages predicts them. */
async function predictValidation(
  dir: string,
  val: readonly { id: string; path: string }[],
  options: { cacheDir?: string; log?: (line: string) => void },
): Promise<Probabilities> {
  const run = await loadRun(jobFiles(dir).train, "best");
  options.log?.(`validation predictions of ${run.checkpoint.path}`);
  const cache = await cacheImages(val, {
    size: run.config.preset.backbone.size,
    dir: options.cacheDir,
  });
  try {
    const ids = val.map((p) => p.id).filter((id) => cache.has(id));
    if (ids.length !== val.length) throw new DataError(dir, "some validation photos are gone");
    return await predictPhotos(run.model, cache, ids);
  } finally {
    cache.close();
  }
}

/** The label map of averaged runs, for writing their submissions. */
export function labelMapOf(run: RunProbabilities): LabelMap {
  return LabelMap.fromOrdered(run.labels);
}
