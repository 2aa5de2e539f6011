/**
 * Display names for labels that say nothing by themselves (a competition's numeric breed ids): a
 * names file of `label<TAB>name` lines, passed as `--names FILE`. Labels it does not name keep
 * theirs; names of labels the run does not have are ignored (one file can serve the competition's
 * 134 ids when a run has 100 of them).
 */
import { DataError } from "../errors.ts";

/** The names file as a map label -> name. A header line `label<TAB>name` is allowed. */
export async function readNames(file: string): Promise<Map<string, string>> {
  const text = await Deno.readTextFile(file).catch((error) => {
    throw new DataError(file, `cannot read the names file: ${(error as Error).message}`);
  });
  const names = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (!line.trim() || (i === 0 && /^label\tname$/i.test(line.trim()))) return;
    const [label, name, ...rest] = line.split("\t");
    if (name === undefined || rest.length || !label.trim() || !name.trim()) {
      throw new DataError(file, "expected 'label<TAB>name' on each line", i + 1);
    }
    if (names.has(label.trim())) {
      throw new DataError(file, `label '${label.trim()}' is named twice`, i + 1);
    }
    names.set(label.trim(), name.trim());
  });
  if (!names.size) throw new DataError(file, "no 'label<TAB>name' lines: the file names nothing");
  return names;
}
