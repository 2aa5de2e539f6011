/**
 * Every CSV/TSV the project reads or writes goes through here. The user asked for `jsr:@std/csv`;
 * JSR is unreachable from the project's machines, so this one module wraps the npm `csv-parse` /
 * `csv-stringify` pair instead (keep the choice here, nowhere else).
 */
import { parse } from "csv-parse/sync";
import { writeFileAtomic } from "../files.ts";
import { stringify } from "csv-stringify/sync";
import { DataError } from "../errors.ts";

export type Row = Record<string, string>;

export interface TableOptions {
  /** Field separator; defaults from the extension: tab for .tsv/.txt, comma otherwise. */
  delimiter?: string;
}

function delimiterFor(path: string, options: TableOptions): string {
  return options.delimiter ?? (/\.(tsv|txt)$/i.test(path) ? "\t" : ",");
}

/** Reads a table with a header row into records. */
export async function readTable(path: string, options: TableOptions = {}): Promise<Row[]> {
  const text = await readText(path);
  try {
    return parse(text, {
      delimiter: delimiterFor(path, options),
      columns: true,
      skip_empty_lines: true,
      trim: true,
    }) as Row[];
  } catch (error) {
    throw new DataError(path, `not a valid table: ${(error as Error).message}`);
  }
}

/** Reads a table without a header (e.g. a submission file) into string arrays. */
export async function readRows(path: string, options: TableOptions = {}): Promise<string[][]> {
  const text = await readText(path);
  try {
    return parse(text, {
      delimiter: delimiterFor(path, options),
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true,
    }) as string[][];
  } catch (error) {
    throw new DataError(path, `not a valid table: ${(error as Error).message}`);
  }
}

/** Writes rows (records with `columns` as header, or plain arrays without one) atomically. */
export async function writeTable(
  path: string,
  rows: readonly (object | readonly (string | number)[])[],
  options: TableOptions & { columns?: readonly string[] } = {},
): Promise<void> {
  const text = stringify(rows as unknown[], {
    delimiter: delimiterFor(path, options),
    header: options.columns !== undefined,
    columns: options.columns as string[] | undefined,
    record_delimiter: "unix",
  });
  await writeFileAtomic(path, new TextEncoder().encode(text));
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new DataError(path, "file not found");
    throw new DataError(path, `cannot read: ${(error as Error).message}`);
  }
}
