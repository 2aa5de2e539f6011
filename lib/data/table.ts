/**
 * Every CSV/TSV the project reads or writes goes through here. The user asked for `jsr:@std/csv`;
 * JSR is unreachable from the project's machines, so this one module wraps the npm `csv-parse` /
 * `csv-stringify` pair instead (keep the choice here, nowhere else).
 *
 * Tab-separated files (`.tsv`, `.txt`: splits, labels, submissions, probabilities) are plain TSV:
 * no quoting and no trimming, so an id such as `" lead"` or `a"b` is written and read back byte
 * for byte, as opaque strings must be. A field that a tab-separated line cannot carry (a tab or a
 * line break in it) is refused by name instead of being quoted into a file no other tool reads the
 * same way. Comma-separated files (`metrics.csv`, for spreadsheets) are quoted CSV.
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

/** csv-parse settings: plain TSV (no quotes, fields as they are), or quoted CSV. */
function parseOptions(delimiter: string) {
  return delimiter === "\t"
    ? { delimiter, quote: false, record_delimiter: ["\r\n", "\n"], skip_empty_lines: true }
    : { delimiter, skip_empty_lines: true, trim: true };
}

/** Whether a field can sit in a plain tab-separated line. */
export function fitsTsv(field: string): boolean {
  return !/[\t\r\n]/.test(field);
}

/** Reads a table with a header row into records. */
export async function readTable(path: string, options: TableOptions = {}): Promise<Row[]> {
  const text = await readText(path);
  try {
    return parse(text, { ...parseOptions(delimiterFor(path, options)), columns: true }) as Row[];
  } catch (error) {
    throw new DataError(path, `not a valid table: ${(error as Error).message}`);
  }
}

/** Reads a table without a header (e.g. a submission file) into string arrays. */
export async function readRows(path: string, options: TableOptions = {}): Promise<string[][]> {
  const text = await readText(path);
  try {
    return parse(text, {
      ...parseOptions(delimiterFor(path, options)),
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
  const delimiter = delimiterFor(path, options);
  if (delimiter === "\t") checkTsvFields(path, rows, options.columns);
  const text = stringify(rows as unknown[], {
    delimiter,
    header: options.columns !== undefined,
    columns: options.columns as string[] | undefined,
    record_delimiter: "unix",
    ...(delimiter === "\t" ? { quote: "" } : {}),
  });
  await writeFileAtomic(path, new TextEncoder().encode(text));
}

function checkTsvFields(
  path: string,
  rows: readonly (object | readonly (string | number)[])[],
  columns?: readonly string[],
): void {
  rows.forEach((row, i) => {
    const fields = Array.isArray(row)
      ? row
      : (columns ?? Object.keys(row)).map((c) => (row as Record<string, unknown>)[c]);
    for (const field of fields) {
      if (typeof field === "string" && !fitsTsv(field)) {
        throw new DataError(
          path,
          `row ${i + 1}: ${JSON.stringify(field)} holds a tab or a line break, which a ` +
            `tab-separated line cannot carry`,
        );
      }
    }
  });
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new DataError(path, "file not found");
    throw new DataError(path, `cannot read: ${(error as Error).message}`);
  }
}
