/** The shapes every reader produces and every later step consumes. */
import { basename, dirname, resolve } from "node:path";
import type { Skipped } from "../errors.ts";

/** A folder called train or images says little alone. */
const GENERIC = /^(train|training|images?|photos?|data|dataset|all|labelled|labeled)$/i;

/** What names a dataset: its root folder's name, with its parent's before a generic one
 * (`imagewoof/train` is `["imagewoof", "train"]`). */
export function datasetNameParts(root: string): string[] {
  const path = resolve(root);
  return GENERIC.test(basename(path))
    ? [basename(dirname(path)), basename(path)]
    : [basename(path)];
}

/** A photo with the dataset's own label (a Baidu type id, a WordNet id, ...). */
export interface LabelledImage {
  /** Unique image id: the file name without extension, as the submission files use it. */
  id: string;
  path: string;
  label: string;
}

/** A photo without a label (the competition's test set). */
export interface UnlabelledImage {
  id: string;
  path: string;
}

export interface DatasetListing {
  root: string;
  layout: "competition" | "imagefolder";
  train: LabelledImage[];
  test: UnlabelledImage[];
  /** Files found but not usable as photos (wrong extension, missing, empty), with the reason. */
  skipped: Skipped[];
}

/** Extensions taken as photos; anything else in an image folder is skipped and reported. */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"];

export function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

export function stem(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name;
}

/** Counts per label, in first-seen order. */
export function countByLabel(items: readonly { label: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { label } of items) counts.set(label, (counts.get(label) ?? 0) + 1);
  return counts;
}
