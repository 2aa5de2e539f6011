/**
 * Errors a person fixes without reading code, each shown as one line by the CLI:
 *
 * - `DataError`: an input file (a photo, a label file, a run folder's state file) is wrong; the
 *   message names the file (and line, where there is one), the problem and what to do.
 * - `UsageError`: an option has a value that cannot be used; the message names the option.
 * - an operating-system error (disk full, read-only file system, not a directory, permission):
 *   `osErrorLine` words it with the path and the reason.
 *
 * Anything else is a bug and keeps its stack trace.
 */
export class DataError extends Error {
  /** What is wrong, on one line (see `oneLine`). */
  readonly problem: string;

  constructor(
    readonly file: string,
    problem: string,
    readonly line?: number,
    options?: ErrorOptions,
  ) {
    const flat = oneLine(problem);
    super(`${line === undefined ? file : `${file}:${line}`}: ${flat}`, options);
    this.problem = flat;
    this.name = "DataError";
  }
}

/**
 * A message on one line: line breaks, tabs and runs of spaces become one space. Decoders speak in
 * several lines (libvips: "premature end of JPEG image\nVipsJpeg: ..."); a problem is recorded in
 * a tab-separated row (`skipped.tsv`) and shown as one `error:` line, so it never carries them.
 */
export function oneLine(text: string): string {
  return text.replace(/[\s\u0085\u2028\u2029]+/g, " ").trim();
}

/** A photo left out of a run, with the reason; runs report these instead of dying mid-epoch. */
export interface Skipped {
  path: string;
  problem: string;
}

/** A command-line option with a value that cannot be used; the message names the option. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** An operating-system error on a file this project was writing or reading, with that file's
 * path: a write through a file descriptor (`node:fs`) reports no path of its own. */
export class FileSystemError extends Error {
  constructor(readonly file: string, readonly reason: string, options?: ErrorOptions) {
    super(`${file}: ${reason}`, options);
    this.name = "FileSystemError";
  }

  /** Wraps an operating-system error (or rethrows anything else) with the file it concerns. */
  static of(file: string, error: unknown): Error {
    const reason = osReason(error);
    return reason === undefined ? error as Error : new FileSystemError(file, reason, {
      cause: error,
    });
  }
}

/** Errors a person fixes by changing their input, not the code: shown as one line. */
export function isUserError(error: unknown): error is Error {
  return error instanceof DataError || error instanceof UsageError;
}

/** The operating-system errors a person acts on (free space, permissions, a path's shape). */
const OS_CODES = new Set([
  "ENOSPC",
  "EDQUOT",
  "EROFS",
  "EACCES",
  "EPERM",
  "ENOTDIR",
  "EISDIR",
  "ENOENT",
  "EEXIST",
  "EMFILE",
  "ENAMETOOLONG",
  "EIO",
]);

/** "No space left on device" from an operating-system error; undefined for anything else. */
function osReason(error: unknown): string | undefined {
  const e = error as { code?: unknown; message?: unknown };
  if (typeof e?.message !== "string") return undefined;
  const isOs = (typeof e.code === "string" && OS_CODES.has(e.code)) ||
    error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotADirectory ||
    error instanceof Deno.errors.IsADirectory || error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.AlreadyExists;
  if (!isOs) return undefined;
  // Deno: "No space left on device (os error 28): writefile '/x'"; node:fs: "... (os error 28)".
  return e.message.replace(/ \(os error \d+\)/, "").split("\n")[0];
}

/**
 * One line for an error a person can act on without the code (input, option, operating system),
 * or undefined for a bug. Deno's own messages already carry the operation and path
 * (`writefile '/x'`); a `FileSystemError` adds the path where the system gave none.
 */
export function userErrorLine(error: unknown): string | undefined {
  if (isUserError(error) || error instanceof FileSystemError) return error.message;
  return osReason(error);
}
