/**
 * Small file helpers every layer uses: whether a path exists, content hashes, atomic writes, and
 * the clean-up of what killed processes leave behind. Files are written as `<name>.tmp-PID` (or
 * `.part-PID` for downloads) and renamed when complete, so a killed process leaves only such names.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DataError } from "./errors.ts";

export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** SHA-256 of a text or bytes, in hex (all 64 digits unless `length` says fewer). */
export function sha256Hex(data: string | Uint8Array, length = 64): string {
  return createHash("sha256").update(data).digest("hex").slice(0, length);
}

/** A JSON file's value, undefined when there is no such file; damaged JSON is a DataError naming
 * the file and what to do. */
export async function readJsonIfAny<T>(path: string, remedy: string): Promise<T | undefined> {
  const text = await Deno.readTextFile(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new DataError(path, `damaged (${(error as Error).message}): ${remedy}`);
  }
}

/** Write-then-rename, so a crash mid-write never leaves a half file where a good one was. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(text));
}

/** Whether a process of this host is still running. */
export function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    // No /proc (not Linux): assume alive unless the pid is our own stale record.
    return !Deno.build.os.startsWith("linux") && pid !== Deno.pid;
  }
}

/** Removes temporary files and folders (`*.tmp-PID`, `*.part-PID`) that dead processes left. */
export async function removeStaleTemporaries(dir: string, recursive = true): Promise<string[]> {
  const removed: string[] = [];
  const entries = await Array.fromAsync(Deno.readDir(dir)).catch(() => []);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    const match = /\.(?:tmp|part)-(\d+)$/.exec(entry.name);
    if (match && !processAlive(Number(match[1]))) {
      await Deno.remove(path, { recursive: true }).catch(() => {});
      removed.push(path);
    } else if (recursive && entry.isDirectory) {
      removed.push(...await removeStaleTemporaries(path, true));
    }
  }
  return removed;
}
