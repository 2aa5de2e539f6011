/**
 * The data steps of the recipe, shared by notebook 01 and `deno task reproduce`: list the photos,
 * relabel classes contiguously, carve off a test part (for a labelled-only dataset), split the
 * rest 90/10 per class, decode everything once into the cache, and write it all down in the run
 * folder so later steps (and a resumed run) read the same split.
 */
import { join } from "node:path";
import { Rng } from "../rng.ts";
import { displayName } from "./breeds.ts";
import type { LabelledImage, UnlabelledImage } from "./dataset.ts";
import type { Skipped } from "./errors.ts";
import { cacheImages, type ImageCache } from "./cache.ts";
import type { Interpolation } from "./image.ts";
import { LabelMap } from "./labels.ts";
import { readDataset } from "./readers.ts";
import { type ClassSplit, splitPerClass } from "./split.ts";
import { readTable, writeTable } from "./table.ts";

export interface PrepareOptions {
  /** Dataset root, either layout. */
  data: string;
  /** Run folder for split files. */
  out: string;
  seed?: number;
  /** Per-class validation fraction (the seed: 0.1). */
  valFraction?: number;
  /** For a dataset without a test folder: per-class fraction carved off as the unlabelled test
   * set, its labels kept apart for scoring only. */
  testFraction?: number;
  /** Side of the cached square photos. */
  size?: number;
  interpolation?: Interpolation;
  cacheDir?: string;
  /** Decode into the cache now (the training steps need it; listing alone does not). */
  cache?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface PreparedData {
  labels: LabelMap;
  train: LabelledImage[];
  val: LabelledImage[];
  test: UnlabelledImage[];
  /** Ground truth of a carved-off test part; empty for a real competition test set. */
  testAnswers: LabelledImage[];
  perClass: (ClassSplit & { name: string; test: number })[];
  skipped: Skipped[];
  cache?: ImageCache;
  layout: "competition" | "imagefolder";
}

export async function prepareData(options: PrepareOptions): Promise<PreparedData> {
  const { data, out, seed = 0, valFraction = 0.1, testFraction = 0.1, size = 224 } = options;
  const listing = await readDataset(data);
  const labels = LabelMap.fromLabels(listing.train.map((t) => t.label));
  let labelled = listing.train;
  let test: UnlabelledImage[] = listing.test;
  let testAnswers: LabelledImage[] = [];
  const testCount = new Map<number, number>();
  if (listing.layout === "imagefolder" && testFraction > 0) {
    const carved = splitPerClass(labelled, labels, {
      fraction: testFraction,
      rng: new Rng(`test-split:${seed}`),
    });
    labelled = carved.kept;
    testAnswers = carved.heldOut;
    test = testAnswers.map(({ id, path }) => ({ id, path }));
    for (const c of carved.perClass) testCount.set(c.index, c.heldOut);
  }
  const split = splitPerClass(labelled, labels, {
    fraction: valFraction,
    rng: new Rng(`val-split:${seed}`),
  });

  let skipped = [...listing.skipped];
  let cache: ImageCache | undefined;
  let { kept: train, heldOut: val } = split;
  if (options.cache !== false) {
    cache = await cacheImages([...train, ...val, ...test], {
      size,
      interpolation: options.interpolation,
      dir: options.cacheDir,
      onProgress: options.onProgress,
    });
    // Photos that failed to decode are reported and dropped from every subset.
    const ok = new Set(cache.ids);
    train = train.filter((t) => ok.has(t.id));
    val = val.filter((t) => ok.has(t.id));
    test = test.filter((t) => ok.has(t.id));
    testAnswers = testAnswers.filter((t) => ok.has(t.id));
    skipped = [...skipped, ...cache.skipped];
  }
  const perClass = split.perClass.map((c) => ({
    ...c,
    name: displayName(c.label),
    test: testCount.get(c.index) ?? 0,
  }));
  const prepared = {
    labels,
    train,
    val,
    test,
    testAnswers,
    perClass,
    skipped,
    cache,
    layout: listing.layout,
  };
  await writePrepared(out, prepared);
  return prepared;
}

/** Files of a run folder: labels.tsv, split.tsv (train/val/test rows), test_answers.tsv,
 * skipped.tsv. */
async function writePrepared(out: string, p: PreparedData): Promise<void> {
  await Deno.mkdir(out, { recursive: true });
  await writeTable(
    join(out, "labels.tsv"),
    p.labels.labels.map((label, index) => ({
      index: String(index),
      label,
      name: displayName(label),
    })),
    { columns: ["index", "label", "name"] },
  );
  const rows = [
    ...p.train.map((t) => ({ ...t, subset: "train" })),
    ...p.val.map((t) => ({ ...t, subset: "val" })),
    ...p.test.map((t) => ({ ...t, label: "", subset: "test" })),
  ];
  await writeTable(join(out, "split.tsv"), rows, { columns: ["id", "path", "label", "subset"] });
  await writeTable(join(out, "test_answers.tsv"), p.testAnswers, { columns: ["id", "label"] });
  await writeTable(join(out, "skipped.tsv"), p.skipped, { columns: ["path", "problem"] });
}

/** Reads back the split a run folder holds (a resumed run must not re-split). */
export async function readSplit(out: string): Promise<{
  labels: LabelMap;
  train: LabelledImage[];
  val: LabelledImage[];
  test: UnlabelledImage[];
}> {
  const labelRows = await readTable(join(out, "labels.tsv"));
  const labels = LabelMap.fromOrdered(labelRows.map((r) => r.label));
  const rows = await readTable(join(out, "split.tsv"));
  const pick = (subset: string) => rows.filter((r) => r.subset === subset);
  const labelled = (r: Record<string, string>) => ({ id: r.id, path: r.path, label: r.label });
  return {
    labels,
    train: pick("train").map(labelled),
    val: pick("val").map(labelled),
    test: pick("test").map((r) => ({ id: r.id, path: r.path })),
  };
}
