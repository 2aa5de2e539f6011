/**
 * How every `deno task` ends on an error. A problem with the input (a file, an option, a run
 * folder) is one line, `error: <file>[:<line>]: <problem>`, and exit status 2: a person can act on
 * it without reading a stack trace. An operating-system error (disk full, read-only, not a
 * directory, permission) is one line with the path and the reason, exit status 1. Anything else
 * is a bug and keeps its stack trace (exit 1); `DEBUG=1` shows the stack for every error.
 */
import { isUserError, userErrorLine } from "../errors.ts";
import { engineFromEnv, requestFromEnv, threadsFromEnv } from "../engine/env.ts";
import { decoderFromEnv } from "../data/turbojpeg.ts";
import { cacheLimitBytes } from "../data/cache_packs.ts";
import { notebookMinutes, relativePaths, smallData } from "../paths.ts";
import { basename, dirname } from "node:path";

/** A command's result line on stdout, its paths relative to the project (where `deno task`
 * runs): what a person reads and copies. */
export function say(line: string): void {
  console.log(relativePaths(line));
}

/** Files of one folder as "in <folder>: <names>", a line, not a paragraph (else ": <paths>"). */
export function filesLine(paths: readonly string[]): string {
  const folder = dirname(paths[0]);
  return paths.every((p) => dirname(p) === folder)
    ? ` in ${folder}: ${paths.map((p) => basename(p)).join(", ")}`
    : `: ${paths.join(", ")}`;
}

export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    checkEnvironment();
    await main();
  } catch (error) {
    const line = userErrorLine(error);
    if (line !== undefined && Deno.env.get("DEBUG") !== "1") {
      console.error(`error: ${relativePaths(line)}`);
      Deno.exit(isUserError(error) ? 2 : 1);
    }
    throw error;
  }
}

/** Every variable the project reads, checked before a command starts: a bad value is one line
 * naming it, before anything is written (some are read only deep inside a run). */
export function checkEnvironment(): void {
  requestFromEnv();
  threadsFromEnv();
  engineFromEnv();
  decoderFromEnv();
  cacheLimitBytes();
  smallData();
  notebookMinutes();
}
