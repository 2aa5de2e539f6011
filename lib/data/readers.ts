/**
 * Dataset readers for the two layouts users have: the Baidu competition's (`train.txt` with
 * `image_id label ...` lines beside `train/` and `test/` folders) and ImageFolder
 * (`<root>/<class>/<file>`, as ImageWoof and Stanford Dogs ship). Structural problems in a label
 * file are errors naming file and line; a single unusable photo is skipped and reported.
 *
 * An ImageFolder photo's id is `<class>/<file name>`: unique per photo (two breeds' folders may
 * both hold `001.jpg`, as Keras and fastai read them) and the photo's path under the root. A
 * competition photo's id is its file's stem, as the submission format has it.
 */
import { join } from "node:path";
import { DataError, type Skipped } from "../errors.ts";
import { exists } from "../files.ts";
import { fitsTsv } from "./table.ts";
import {
  type DatasetListing,
  isImageName,
  type LabelledImage,
  stem,
  type UnlabelledImage,
} from "./dataset.ts";

export interface CompetitionOptions {
  /** Label file relative to the root. */
  labelFile?: string;
  trainDir?: string;
  testDir?: string;
}

/**
 * Picks the layout from what is on disk: a `train.txt` means the competition layout.
 *
 * @example
 * ```ts
 * const listing = await readDataset("../shared/data/imagewoof/train");
 * console.log(listing.layout, listing.train.length, listing.test.length);
 * ```
 */
export async function readDataset(
  root: string,
  options: CompetitionOptions = {},
): Promise<DatasetListing> {
  await requireDirectory(root);
  const labelFile = join(root, options.labelFile ?? "train.txt");
  return (await exists(labelFile)) ? readCompetition(root, options) : readImageFolder(root);
}

/**
 * Ids are opaque strings and travel through tab-separated files; a name with a tab or a line
 * break cannot, and is refused by name before anything is written. So is a name that is not
 * UTF-8 (a Latin-1 `café.jpg` from an old archive): Deno reads it with U+FFFD in place of the
 * byte, a path that names no file, so its id could neither be written nor read back.
 */
function checkName(path: string, name: string, folder = false): void {
  if (!fitsTsv(name)) {
    throw new DataError(
      path,
      "its name holds a tab or a line break, which the run's tab-separated files (split, " +
        "submissions) cannot carry: rename it",
    );
  }
  // A file that is no photo is only reported (skipped.tsv): its name need not lead back to it.
  if (name.includes("\uFFFD") && (folder || isImageName(name))) {
    let exists = true;
    try {
      Deno.lstatSync(path);
    } catch {
      exists = false;
    }
    if (!exists) {
      throw new DataError(
        path,
        "its name is not UTF-8 (shown with U+FFFD where a byte could not be read as text), so " +
          "no file can be named by it: rename it in UTF-8 (e.g. `convmv -f latin1 -t utf8`)",
      );
    }
  }
}

/** A classifier learns to tell classes apart: a dataset of one class is refused up front. */
function checkClasses(source: string, train: readonly LabelledImage[]): void {
  const labels = new Set(train.map((t) => t.label));
  if (labels.size < 2) {
    throw new DataError(
      source,
      `only one class ('${[...labels][0]}'): a classifier needs photos of two classes or more`,
    );
  }
}

/** `<root>/<class>/<file>`; the class folder name is the label. */
export async function readImageFolder(root: string): Promise<DatasetListing> {
  await requireDirectory(root);
  const train: LabelledImage[] = [];
  const skipped: Skipped[] = [];
  for (const classDir of await sortedEntries(root)) {
    if (!classDir.isDirectory || classDir.name.startsWith(".")) continue;
    const dir = join(root, classDir.name);
    checkName(dir, classDir.name, true);
    for (const file of await sortedEntries(dir)) {
      if (file.name.startsWith(".") || file.isDirectory) continue;
      const path = join(dir, file.name);
      checkName(path, file.name);
      const problem = await fileProblem(path, file.name);
      if (problem) {
        skipped.push({ path, problem });
        continue;
      }
      train.push({ id: `${classDir.name}/${file.name}`, path, label: classDir.name });
    }
  }
  if (train.length === 0) {
    throw new DataError(root, "no images found (expected <root>/<class>/<image> or train.txt)");
  }
  checkClasses(root, train);
  return { root, layout: "imagefolder", train, test: [], skipped };
}

/** The Baidu layout: `train.txt` lines `image_id label [anything else]`. */
export async function readCompetition(
  root: string,
  options: CompetitionOptions = {},
): Promise<DatasetListing> {
  const labelFile = join(root, options.labelFile ?? "train.txt");
  const trainDir = join(root, options.trainDir ?? "train");
  const testDir = join(root, options.testDir ?? "test");
  const text = await Deno.readTextFile(labelFile).catch((error) => {
    throw new DataError(labelFile, `cannot read label file: ${(error as Error).message}`);
  });
  const files = await filesByStem(trainDir);
  const train: LabelledImage[] = [];
  const skipped: Skipped[] = [];
  const firstLine = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i].trim().split(/\s+/);
    if (fields[0] === "") continue;
    const line = i + 1;
    if (fields.length < 2) {
      throw new DataError(labelFile, `expected 'image_id label', got '${lines[i].trim()}'`, line);
    }
    const id = isImageName(fields[0]) ? stem(fields[0]) : fields[0];
    const seen = firstLine.get(id);
    if (seen !== undefined) {
      throw new DataError(labelFile, `duplicate image id '${id}' (first on line ${seen})`, line);
    }
    firstLine.set(id, line);
    const names = files.get(id);
    if (!names) {
      skipped.push({
        path: join(trainDir, `${id}.jpg`),
        problem: /[\\/]/.test(id)
          ? `listed on ${labelFile}:${line} with a path outside ${trainDir} (ids are file ` +
            `names inside it)`
          : `listed on ${labelFile}:${line} but missing`,
      });
      continue;
    }
    const photos = names.filter(isImageName);
    if (photos.length > 1) {
      throw new DataError(
        join(trainDir, photos[0]),
        `image id '${id}' (${labelFile}:${line}) names two photos: ${photos.join(", ")}; keep one`,
      );
    }
    const name = photos[0] ?? names[0];
    const path = join(trainDir, name);
    const problem = await fileProblem(path, name);
    if (problem) skipped.push({ path, problem });
    else train.push({ id, path, label: fields[1] });
  }
  if (train.length === 0) throw new DataError(labelFile, "no usable labelled images");
  checkClasses(labelFile, train);
  const test = await readTestFolder(testDir, skipped);
  const trainPaths = new Map(train.map((t) => [t.id, t.path]));
  for (const t of test) {
    const other = trainPaths.get(t.id);
    if (other) {
      throw new DataError(
        t.path,
        `image id '${t.id}' is also a training photo (${other}): one id must name one photo; ` +
          `rename one of them`,
      );
    }
  }
  return { root, layout: "competition", train, test, skipped };
}

/**
 * Every photo in a folder, sorted by name; a missing folder is an empty test set. A test photo
 * that turns out unreadable (empty, corrupt, a broken link) stays listed: every test id must get
 * a line in the submissions, so decoding reports it and prediction gives it the fallback.
 */
export async function readTestFolder(
  dir: string,
  skipped: Skipped[] = [],
): Promise<UnlabelledImage[]> {
  if (!(await exists(dir))) return [];
  const test: UnlabelledImage[] = [];
  const firstPath = new Map<string, string>();
  for (const file of await sortedEntries(dir)) {
    if (file.isDirectory || file.name.startsWith(".")) continue;
    const path = join(dir, file.name);
    if (!isImageName(file.name)) {
      skipped.push({ path, problem: "not an image file (unknown extension)" });
      continue;
    }
    checkName(path, file.name);
    const id = stem(file.name);
    const other = firstPath.get(id);
    if (other) {
      throw new DataError(
        path,
        `image id '${id}' names two test photos (also ${other}): a submission has one line ` +
          `per id; keep one`,
      );
    }
    firstPath.set(id, path);
    test.push({ id, path });
  }
  return test;
}

async function fileProblem(path: string, name: string): Promise<string | undefined> {
  if (!isImageName(name)) return "not an image file (unknown extension)";
  const info = await Deno.stat(path).catch((error: Error) => error);
  if (info instanceof Error) {
    return `unreadable (${info instanceof Deno.errors.NotFound ? "broken link" : info.message})`;
  }
  if (info.size === 0) return "empty file (0 bytes)";
  return undefined;
}

/** The photos of a folder by id (file stem); an id may name several files (A.jpg, A.png). */
async function filesByStem(dir: string): Promise<Map<string, string[]>> {
  await requireDirectory(dir);
  const map = new Map<string, string[]>();
  for (const entry of await sortedEntries(dir)) {
    if (entry.isDirectory) continue;
    if (isImageName(entry.name)) checkName(join(dir, entry.name), entry.name);
    const id = stem(entry.name);
    map.set(id, [...map.get(id) ?? [], entry.name]);
  }
  return map;
}

async function sortedEntries(dir: string): Promise<Deno.DirEntry[]> {
  const entries = await Array.fromAsync(Deno.readDir(dir));
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function requireDirectory(dir: string): Promise<void> {
  const info = await Deno.stat(dir).catch(() => undefined);
  if (!info) throw new DataError(dir, "directory not found");
  if (!info.isDirectory) throw new DataError(dir, "not a directory");
}
