/**
 * The split as a run folder keeps it: `labels.tsv` (class index <-> the dataset's label),
 * `split.tsv` (every photo with its part: train, val or test), `test_answers.tsv` (the labels of
 * a carved-off test part, for scoring only) and `skipped.tsv`. A resumed run reads them back and
 * never splits again, so they are checked when read: a damaged file is one line naming it, what
 * is wrong, and what to do, before the run writes anything.
 */
import { resolve } from "node:path";
import { displayName } from "./breeds.ts";
import type { DatasetListing, LabelledImage, UnlabelledImage } from "./dataset.ts";
import { DataError, type Skipped } from "../errors.ts";
import { LabelMap } from "./labels.ts";
import { readTable, type Row, writeTable } from "./table.ts";
import { runFiles } from "../layout.ts";

export interface SplitLists {
  labels: LabelMap;
  train: LabelledImage[];
  val: LabelledImage[];
  test: UnlabelledImage[];
  /** Ground truth of a carved-off test part; empty for a real competition test set. */
  testAnswers: LabelledImage[];
}

/** Writes labels.tsv, split.tsv, test_answers.tsv and skipped.tsv. */
export async function writeSplit(out: string, p: SplitLists, skipped: Skipped[]): Promise<void> {
  await Deno.mkdir(out, { recursive: true });
  const files = runFiles(out);
  await writeTable(
    files.labels,
    p.labels.labels.map((label, index) => ({
      index: String(index),
      label,
      name: p.labels.names[index],
    })),
    { columns: ["index", "label", "name"] },
  );
  const rows = [
    ...p.train.map((t) => ({ ...t, subset: "train" })),
    ...p.val.map((t) => ({ ...t, subset: "val" })),
    ...p.test.map((t) => ({ ...t, label: "", subset: "test" })),
  ];
  await writeTable(files.split, rows, { columns: ["id", "path", "label", "subset"] });
  await writeTable(files.testAnswers, p.testAnswers, { columns: ["id", "label"] });
  await writeTable(files.skipped, skipped, { columns: ["path", "problem"] });
}

const REMAKE = "remove it and run the same command: the split is made again from the run's seed";

/** Reads a table and checks it has `columns`. */
async function readColumns(file: string, columns: readonly string[]): Promise<Row[]> {
  const rows = await readTable(file);
  const header = (await Deno.readTextFile(file)).split(/\r?\n/, 1)[0].split("\t");
  const missing = columns.filter((c) => !header.includes(c));
  if (missing.length) {
    throw new DataError(file, `damaged: no ${missing.join(", ")} column; ${REMAKE}`);
  }
  return rows;
}

/** labels.tsv: row i holds class index i (the `index` column is checked, never assumed). */
export async function readLabels(out: string): Promise<LabelMap> {
  const file = runFiles(out).labels;
  const rows = await readColumns(file, ["index", "label"]);
  const byIndex = new Map<number, string>();
  rows.forEach((row, i) => {
    const index = Number(row.index);
    if (!Number.isInteger(index) || index < 0 || index >= rows.length || byIndex.has(index)) {
      throw new DataError(
        file,
        `damaged: index '${row.index}' (expected each of 0..${rows.length - 1} once); ${REMAKE}`,
        i + 2,
      );
    }
    byIndex.set(index, row.label);
  });
  const labels = rows.map((_, i) => byIndex.get(i)!);
  if (new Set(labels).size !== labels.length) {
    throw new DataError(file, `damaged: a label appears twice; ${REMAKE}`);
  }
  // The name column as written (a label written as its own name gets today's display rules).
  const written = new Map(rows.map((row) => [row.label, row.name]));
  return LabelMap.fromOrdered(
    labels,
    labels.map((l) => (written.get(l) && written.get(l) !== l ? written.get(l)! : displayName(l))),
  );
}

/**
 * The split a run folder holds, checked on its own terms: known parts, one row per id, labels
 * from labels.tsv for the labelled parts.
 */
export async function readSplit(out: string): Promise<Omit<SplitLists, "testAnswers">> {
  const labels = await readLabels(out);
  const file = runFiles(out).split;
  const rows = await readColumns(file, ["id", "path", "label", "subset"]);
  const seen = new Set<string>();
  const parts = { train: [] as LabelledImage[], val: [] as LabelledImage[] };
  const test: UnlabelledImage[] = [];
  rows.forEach((r, i) => {
    const line = i + 2;
    if (seen.has(r.id)) throw new DataError(file, `damaged: id '${r.id}' twice; ${REMAKE}`, line);
    seen.add(r.id);
    if (r.subset === "test") test.push({ id: r.id, path: r.path });
    else if (r.subset === "train" || r.subset === "val") {
      if (!labels.has(r.label)) {
        throw new DataError(
          file,
          `damaged: label '${r.label}' is not in labels.tsv; ${REMAKE}`,
          line,
        );
      }
      parts[r.subset].push({ id: r.id, path: r.path, label: r.label });
    } else {
      throw new DataError(
        file,
        `damaged: part '${r.subset}' (expected train, val or test); ${REMAKE}`,
        line,
      );
    }
  });
  return { labels, ...parts, test };
}

/**
 * The split a run folder holds, checked against the dataset it was made from (the run identity
 * has already proved the dataset unchanged): every photo once, at its path, with its label, and
 * the label map the dataset gives. A file that fails is damaged.
 */
export async function readSavedSplit(out: string, listing: DatasetListing): Promise<SplitLists> {
  const split = await readSplit(out);
  const expected = LabelMap.fromLabels(listing.train.map((t) => t.label)).labels;
  if (split.labels.labels.join("\t") !== expected.join("\t")) {
    throw new DataError(
      runFiles(out).labels,
      `damaged: its classes are not the dataset's ${expected.length} in order; ${REMAKE}`,
    );
  }
  const answersFile = runFiles(out).testAnswers;
  const answers = new Map((await readColumns(answersFile, ["id", "label"])).map((r) => [r.id, r]));
  const photos = new Map<string, { path: string; label?: string }>(
    [...listing.train, ...listing.test].map((p) => [p.id, p]),
  );
  const file = runFiles(out).split;
  const damaged = (id: string) =>
    new DataError(file, `damaged: the row of '${id}' does not match the dataset; ${REMAKE}`);
  for (const row of [...split.train, ...split.val]) {
    const photo = photos.get(row.id);
    if (!photo || resolve(photo.path) !== resolve(row.path) || photo.label !== row.label) {
      throw damaged(row.id);
    }
  }
  // A test photo with a label in the dataset was carved off: its label is kept apart.
  for (const row of split.test) {
    const photo = photos.get(row.id);
    if (!photo || resolve(photo.path) !== resolve(row.path)) throw damaged(row.id);
    if (photo.label !== answers.get(row.id)?.label) {
      throw new DataError(
        answersFile,
        `damaged: the answer for '${row.id}' does not match the dataset; ${REMAKE}`,
      );
    }
  }
  const rows = split.train.length + split.val.length + split.test.length;
  if (rows !== photos.size || answers.size !== split.test.filter((t) => answers.has(t.id)).length) {
    const listed = new Set([...split.train, ...split.val, ...split.test].map((r) => r.id));
    const lost = [...photos.keys()].find((id) => !listed.has(id));
    throw new DataError(
      lost ? file : answersFile,
      lost
        ? `damaged: it lists ${rows} of the dataset's ${photos.size} photos (first missing: ` +
          `'${lost}'); ${REMAKE}`
        : `damaged: it answers photos that are not test photos; ${REMAKE}`,
    );
  }
  const testAnswers = split.test.filter((t) => answers.has(t.id))
    .map((t) => ({ ...t, label: answers.get(t.id)!.label }));
  return { ...split, testAnswers };
}
