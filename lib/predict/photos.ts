/**
 * A trained model on anyone's photos: files or folders (read recursively), decoded exactly as
 * the test photos are (the decoded-photo cache: center crop, nearest resize), predicted by the
 * same `predictPhotos` as the submissions, blended with the run's alpha, top-K per photo. A photo
 * that cannot be read gets its reason instead; the others still get answers.
 */
import { join } from "node:path";
import { cacheImages } from "../data/cache.ts";
import { isImageName } from "../data/dataset.ts";
import type { LabelMap } from "../data/labels.ts";
import { blend } from "../model/blend.ts";
import { type FinalModel, predictPhotos } from "./predict.ts";
import { DEFAULTS } from "../defaults.ts";

export interface Guess {
  label: string;
  name: string;
  probability: number;
}

export interface PhotoPrediction {
  path: string;
  /** The K most probable breeds, most probable first (absent when the photo was unreadable). */
  top?: Guess[];
  error?: string;
}

/**
 * The photos named: files as given, folders read recursively (image files, sorted). A folder's
 * other files (notes, hidden files) are left out and, with `notPhotos`, listed there so that the
 * caller can say so.
 */
export async function listPhotos(
  paths: readonly string[],
  notPhotos: string[] = [],
): Promise<string[]> {
  const photos: string[] = [];
  for (const path of paths) {
    const info = await Deno.stat(path).catch(() => undefined);
    if (info?.isDirectory) {
      const entries = (await Array.fromAsync(Deno.readDir(path)))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const isPhoto = (e: Deno.DirEntry) => isImageName(e.name) && !e.name.startsWith(".");
      const files = entries.filter((e) => !e.isDirectory && isPhoto(e)).map((e) =>
        join(path, e.name)
      );
      notPhotos.push(
        ...entries.filter((e) => !e.isDirectory && !isPhoto(e)).map((e) => join(path, e.name)),
      );
      const folders = entries.filter((e) => e.isDirectory && !e.name.startsWith("."))
        .map((e) => join(path, e.name));
      photos.push(...files, ...await listPhotos(folders, notPhotos));
    } else photos.push(path); // a missing or odd file is reported by decoding, in its place
  }
  return photos;
}

/** The top `k` of a probability row. */
export function topK(
  probs: Float32Array,
  row: number,
  labels: LabelMap,
  k: number,
): Guess[] {
  const classes = labels.size;
  const order = Array.from({ length: classes }, (_, c) => c)
    .sort((a, b) => probs[row * classes + b] - probs[row * classes + a]);
  return order.slice(0, Math.min(k, classes)).map((c) => ({
    label: labels.toLabel(c),
    name: labels.nameOf(c),
    probability: probs[row * classes + c],
  }));
}

export interface PredictFilesOptions {
  top?: number;
  /** Average each photo with its mirror image (default: as the run's submissions do). */
  flip?: boolean;
  cacheDir?: string;
  onDecode?: (done: number, total: number) => void;
  onPredict?: (done: number, total: number) => void;
}

/** Predictions for photo files, in the order given. */
export async function predictFiles(
  run: FinalModel,
  paths: readonly string[],
  options: PredictFilesOptions = {},
): Promise<PhotoPrediction[]> {
  const { top = DEFAULTS.top, flip = run.flip } = options;
  const items = paths.map((path, i) => ({ id: `photo${i}`, path }));
  const cache = await cacheImages(items, {
    size: run.config.preset.backbone.size,
    dir: options.cacheDir,
    onProgress: options.onDecode,
  });
  try {
    const readable = items.filter((item) => cache.has(item.id));
    const probs = await predictPhotos(run.model, cache, readable.map((i) => i.id), {
      flip,
      onProgress: options.onPredict,
    });
    const blended = blend(probs.main, probs.aux, run.alpha);
    const rowOf = new Map(readable.map((item, row) => [item.id, row]));
    const problems = new Map(cache.skipped.map((s) => [s.path, s.problem]));
    return items.map((item) => {
      const row = rowOf.get(item.id);
      if (row === undefined) {
        const problem = problems.get(item.path) ?? "could not be read";
        // Decoding names the file in its message; the path is printed beside it already.
        const error = problem.startsWith(`${item.path}: `)
          ? problem.slice(item.path.length + 2)
          : problem;
        // Named directly, it was tried; in a folder, a name like this one is left out.
        const name = isImageName(item.path) ? "" : "not a photo's name (a folder skips it), and ";
        return { path: item.path, error: name + error };
      }
      return { path: item.path, top: topK(blended, row, run.labels, top) };
    });
  } finally {
    cache.close();
  }
}
