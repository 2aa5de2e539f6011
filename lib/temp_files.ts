/**
 * Temporary files are written as `<name>.tmp-PID` (or `.part-PID` for downloads) and renamed
 * when complete, so a killed process leaves only such names behind. These helpers find the ones
 * whose process is gone and remove them.
 */
import { join } from "node:path";

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
