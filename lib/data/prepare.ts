/**
 * The data steps of the recipe, shared by notebook 01 and `deno task reproduce`: list the photos,
 * relabel classes contiguously, carve off a test part (for a labelled-only dataset), split the
 * rest 90/10 per class, decode everything once into the cache, and write it all down in the run
 * folder so later steps (and a resumed run) read the same split.
 */
import { join, resolve } from "node:path";
import { Rng } from "../rng.ts";
import { timed } from "../phases.ts";
import { displayName } from "./breeds.ts";
import type { DatasetListing, LabelledImage, UnlabelledImage } from "./dataset.ts";
import { DataError, type Skipped } from "../errors.ts";
import { cacheImages, type ImageCache } from "./cache.ts";
import type { Interpolation } from "./image.ts";
import { LabelMap } from "./labels.ts";
import { readDataset } from "./readers.ts";
import { carvedCount, type ClassSplit, foldParts, type Folds, splitPerClass } from "./split.ts";
import { readSavedSplit, readSplit, type SplitLists, writeSplit } from "./split_files.ts";
import { DEFAULTS } from "../defaults.ts";

export { readSplit } from "./split_files.ts";

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
  /** K-fold cross-validation: fold `index` of `count` validates, instead of `valFraction`; the
   * test part carved off is the same for every fold. */
  folds?: Folds;
  /** Side of the cached square photos. */
  size?: number;
  interpolation?: Interpolation;
  cacheDir?: string;
  /** Decode into the cache now (the training steps need it; listing alone does not). */
  cache?: boolean;
  /** The dataset's listing, when the caller has read it already. */
  listing?: DatasetListing;
  /** Read the split the run folder holds instead of making one (a resumed run never re-splits);
   * nothing is written. */
  resume?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Told which decoder took the photos, when they were decoded now. */
  onDecoded?: (line: string) => void;
}

export interface PreparedData {
  labels: LabelMap;
  train: LabelledImage[];
  val: LabelledImage[];
  /** Test photos that decoded; predictions are made for these. */
  test: UnlabelledImage[];
  /** Test photos that did not decode: they still get a line in every submission file (the
   * fallback: the most frequent training class), and are listed in skipped.tsv. */
  unreadableTest: UnlabelledImage[];
  /** Ground truth of a carved-off test part; empty for a real competition test set. */
  testAnswers: LabelledImage[];
  perClass: (ClassSplit & { name: string; test: number })[];
  skipped: Skipped[];
  cache?: ImageCache;
  layout: "competition" | "imagefolder";
}

/**
 * The split (per-class, seeded; saved as `split.tsv`) and the decoded photos of a dataset.
 *
 * @example
 * ```ts
 * const data = await prepareData({ data: "../shared/data/imagewoof/train", out: "data/runs/x", seed: 0 });
 * console.log(data.train.length, data.val.length, data.test.length, data.labels.size);
 * ```
 */
export async function prepareData(options: PrepareOptions): Promise<PreparedData> {
  const { data, out, size = 224 } = options;
  const listing = options.listing ?? await readDataset(data);
  const lists = options.resume ? await readSavedSplit(out, listing) : newSplit(listing, options);
  let { train, val, test, testAnswers } = lists;
  let unreadableTest: UnlabelledImage[] = [];
  let skipped = [...listing.skipped];
  let cache: ImageCache | undefined;
  if (options.cache !== false) {
    cache = await timed("decoding photos", () =>
      cacheImages([...train, ...val, ...test], {
        size,
        interpolation: options.interpolation,
        dir: options.cacheDir,
        onProgress: options.onProgress,
        onDecoded: options.onDecoded,
      }));
    // Photos that failed to decode are reported and dropped from training; test photos keep
    // their place in the submissions.
    const ok = new Set(cache.ids);
    train = train.filter((t) => ok.has(t.id));
    val = val.filter((t) => ok.has(t.id));
    unreadableTest = test.filter((t) => !ok.has(t.id));
    test = test.filter((t) => ok.has(t.id));
    skipped = [...skipped, ...cache.skipped];
  }
  const prepared: PreparedData = {
    labels: lists.labels,
    train,
    val,
    test,
    unreadableTest,
    testAnswers,
    perClass: perClassCounts(lists),
    skipped,
    cache,
    layout: listing.layout,
  };
  if (!options.resume) await writeSplit(out, lists, skipped);
  return prepared;
}

/** The seed's split of a listing: test carve-off (ImageFolder data), then 90/10 per class. */
function newSplit(listing: DatasetListing, options: PrepareOptions): SplitLists {
  const {
    seed = DEFAULTS.seed,
    valFraction = DEFAULTS.valFraction,
    testFraction = DEFAULTS.testFraction,
  } = options;
  if (listing.layout === "competition" && listing.test.length === 0) {
    throw new DataError(
      join(listing.root, "test"),
      "no test photos: the competition layout needs test/<image_id>.jpg to predict",
    );
  }
  const labels = LabelMap.fromLabels(listing.train.map((t) => t.label));
  let labelled = listing.train;
  let test: UnlabelledImage[] = listing.test;
  let testAnswers: LabelledImage[] = [];
  if (listing.layout === "imagefolder" && testFraction > 0) {
    const carved = splitPerClass(labelled, labels, {
      fraction: testFraction,
      rng: new Rng(`test-split:${seed}`),
      count: carvedCount,
    });
    labelled = carved.kept;
    testAnswers = carved.heldOut;
    test = testAnswers.map(({ id, path }) => ({ id, path }));
  }
  if (options.folds) {
    const { count, index } = options.folds;
    if (!(Number.isInteger(index) && index >= 0 && index < count)) {
      throw new RangeError(`fold ${index} of ${count}: folds are numbered 0 to ${count - 1}`);
    }
    const { parts, always } = foldParts(labelled, labels, {
      count,
      rng: new Rng(`fold-split:${seed}`),
    });
    const train = [...parts.filter((_, i) => i !== index).flat(), ...always];
    return { labels, train, val: parts[index], test, testAnswers };
  }
  const split = splitPerClass(labelled, labels, {
    fraction: valFraction,
    rng: new Rng(`val-split:${seed}`),
  });
  return { labels, train: split.kept, val: split.heldOut, test, testAnswers };
}

/** Photos per class in each part, in label-map order. */
function perClassCounts(lists: SplitLists): (ClassSplit & { name: string; test: number })[] {
  const count = (items: readonly { label: string }[]) => {
    const counts = new Array<number>(lists.labels.size).fill(0);
    for (const item of items) counts[lists.labels.toIndex(item.label)]++;
    return counts;
  };
  const [kept, heldOut, test] = [lists.train, lists.val, lists.testAnswers].map(count);
  return lists.labels.labels.map((label, index) => ({
    label,
    index,
    kept: kept[index],
    heldOut: heldOut[index],
    name: displayName(label),
    test: test[index],
  }));
}

/** How a dataset differs from the split a run folder saved, in words (undefined: it does not). */
export async function listingChanges(
  out: string,
  listing: DatasetListing,
): Promise<string | undefined> {
  const saved = await readSplit(out).catch(() => undefined);
  if (!saved) return undefined;
  const now = new Set([...listing.train, ...listing.test].map((p) => resolve(p.path)));
  const before = [...saved.train, ...saved.val, ...saved.test].map((p) => resolve(p.path));
  const had = new Set(before);
  const gone = before.filter((p) => !now.has(p));
  const added = [...now].filter((p) => !had.has(p));
  const list = (paths: string[]) =>
    paths.slice(0, 3).join(", ") + (paths.length > 3 ? ` and ${paths.length - 3} more` : "");
  if (gone.length) {
    return `${gone.length} photo(s) of this run are gone from the dataset: ${list(gone)}` +
      " (a resumed run never re-splits: restore them)";
  }
  if (added.length) {
    return `${added.length} photo(s) were added to the dataset since this run started: ` +
      `${list(added)} (a resumed run never re-splits)`;
  }
  return "the dataset's labels changed since this run started";
}
