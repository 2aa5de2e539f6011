/**
 * Errors about input data always name the file (and line, where there is one) and the problem,
 * so a user with 18k photos can find the one that broke a run.
 */
export class DataError extends Error {
  constructor(readonly file: string, readonly problem: string, readonly line?: number) {
    super(`${line === undefined ? file : `${file}:${line}`}: ${problem}`);
    this.name = "DataError";
  }
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

/** Errors a person fixes by changing their input, not the code: shown as one line. */
export function isUserError(error: unknown): error is Error {
  return error instanceof DataError || error instanceof UsageError;
}
