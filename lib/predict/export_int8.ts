/**
 * The int8 variant of an exported ONNX model (`lib/model/quantize.ts`), calibrated on the run's
 * own training photos and offered only if it keeps the accuracy: both models are scored on the
 * run's carved-off test part (its validation part where the dataset has no labelled test part),
 * and the int8 one is written only when it loses at most `maxLoss` points there.
 */
import { cacheImages, type ImageCache } from "../data/cache.ts";
import { readSplit } from "../data/prepare.ts";
import { readTable } from "../data/table.ts";
import { scaledPhotos } from "../augment/batch.ts";
import { calibrate, quantizeModel } from "../model/quantize.ts";
import { argmaxRow } from "../model/blend.ts";
import { OnnxSession } from "../engine/onnx.ts";
import { writeFileAtomic } from "../files.ts";
import { runFiles } from "../layout.ts";
import { DataError } from "../errors.ts";
import type { FinalModel } from "./predict.ts";

/** auto: written when it keeps the accuracy; always: written whatever it scores; never. */
export type Int8Mode = "auto" | "always" | "never";

export interface Int8Report {
  written: boolean;
  /** Which labelled photos scored both models, and how many. */
  part: "test" | "validation";
  photos: number;
  /** Top-1 accuracy (%) of the float and int8 models on them, and how often they agree. */
  fp32: number;
  int8: number;
  agreement: number;
  calibrationPhotos: number;
  /** Bytes of each model. */
  sizes: { fp32: number; int8: number };
}

export interface Int8Options {
  mode?: Int8Mode;
  /** Largest accuracy loss (points) at which `auto` still writes it (default 0.5). */
  maxLoss?: number;
  calibrationPhotos?: number;
  cacheDir?: string;
  threads?: number;
}

/**
 * Calibrates, quantizes and scores the int8 model of `fp32` (the export's ONNX bytes); writes it
 * to `file` when `mode` says so, and removes an older one there when not, so the folder never
 * offers an int8 model of another export.
 */
export async function exportInt8(
  run: FinalModel,
  fp32: Uint8Array,
  file: string,
  { mode = "auto", maxLoss = 0.5, calibrationPhotos = 256, cacheDir, threads = 1 }: Int8Options =
    {},
): Promise<Int8Report | undefined> {
  await Deno.remove(file).catch(() => {});
  if (mode === "never") return undefined;
  const split = await readSplit(run.splitFolder);
  const answers = await readTable(runFiles(run.splitFolder).testAnswers);
  const pathOf = new Map([...split.train, ...split.val, ...split.test].map((p) => [p.id, p.path]));
  const scored = answers.length
    ? answers.map((a) => ({ id: a.id, label: a.label }))
    : split.val.map((v) => ({ id: v.id, label: v.label }));
  // Every k-th training photo: the list is by class, so each class is in the sample.
  const step = Math.max(1, Math.ceil(split.train.length / calibrationPhotos));
  const calibration = split.train.filter((_, i) => i % step === 0).map((t) => t.id);
  const size = run.config.preset.backbone.size;
  const cache = await cacheImages(
    [...calibration, ...scored.map((s) => s.id)].map((id) => ({ id, path: pathOf.get(id)! })),
    { size, dir: cacheDir },
  );
  try {
    // Photos moved or removed since the run: calibrate and score on those still readable.
    const readable = calibration.filter((id) => cache.has(id));
    const kept = scored.filter((s) => cache.has(s.id));
    if (!readable.length || !kept.length) {
      throw new DataError(
        run.splitFolder,
        "the run's photos cannot be read (moved?): the int8 model is calibrated and scored on " +
          "them; export with --int8 never, or from where the dataset was",
      );
    }
    const ranges = await calibrate(fp32, batchesOf(cache, readable), { threads });
    const int8 = quantizeModel(fp32, ranges);
    const ids = kept.map((s) => s.id);
    const truth = kept.map((s) => run.labels.toIndex(s.label));
    const [a, b] = [
      await topOne(fp32, cache, ids, threads),
      await topOne(int8, cache, ids, threads),
    ];
    const percent = (hits: number) => (100 * hits) / ids.length;
    const report: Int8Report = {
      written: false,
      part: answers.length ? "test" : "validation",
      photos: ids.length,
      fp32: percent(a.filter((c, i) => c === truth[i]).length),
      int8: percent(b.filter((c, i) => c === truth[i]).length),
      agreement: percent(a.filter((c, i) => c === b[i]).length),
      calibrationPhotos: readable.length,
      sizes: { fp32: fp32.length, int8: int8.length },
    };
    if (mode === "always" || report.int8 >= report.fp32 - maxLoss) {
      await writeFileAtomic(file, int8);
      report.written = true;
    }
    return report;
  } finally {
    cache.close();
  }
}

/** Cached photos as the model's planar input, 16 at a time. */
async function* batchesOf(cache: ImageCache, ids: string[]) {
  for (let i = 0; i < ids.length; i += 16) {
    const part = ids.slice(i, i + 16);
    yield { images: scaledPhotos(cache, part, { planar: true }), n: part.length };
  }
}

/** Each photo's most likely class under an exported model (input `pixel_values`). */
async function topOne(
  bytes: Uint8Array,
  cache: ImageCache,
  ids: string[],
  threads: number,
): Promise<number[]> {
  const session = await OnnxSession.create(bytes, threads);
  const size = cache.size;
  const best: number[] = [];
  try {
    for await (const { images, n } of batchesOf(cache, ids)) {
      const { logits } = await session.runNamed({
        pixel_values: { data: images, dims: [n, 3, size, size] },
      });
      for (let j = 0; j < n; j++) best.push(argmaxRow(logits, j, logits.length / n));
    }
  } finally {
    await session.release();
  }
  return best;
}
