/**
 * A run folder is a contract: what it holds belongs to one dataset, preset, seed and set of
 * weights, whatever a user does with the CLI. This module keeps it:
 *
 * - identity: `run.json` records the dataset (root and a fingerprint of its listing), the preset,
 *   the seed, the weights (path and SHA-256) and every setting that changes the result. A command
 *   whose identity differs is refused before anything is written, with one line naming the field.
 * - a lock: one process at a time (`.lock` holds pid, host and start time; a lock whose process is
 *   gone is stale and taken over).
 * - leftovers: temporary files of killed runs are removed at start (`lib/files.ts`), and a folder
 *   that holds nothing else (a start killed before `run.json` was in place, a disk that filled
 *   while it was written) is the same command's to start again, not a stranger's folder.
 */
import { join, relative, resolve } from "node:path";
import { hostname } from "node:os";
import { DataError } from "../errors.ts";
import type { DatasetListing } from "../data/dataset.ts";
import { processAlive, sha256Hex } from "../files.ts";
import { runFiles } from "../layout.ts";
import { jupyter } from "../display.ts";

export interface RunIdentity {
  dataset: { root: string; photos: number; listing: string };
  preset: string;
  seed: number;
  weights: { path: string; sha256: string };
  /** Everything else that changes what the run computes (fractions, loss weights, stages...). */
  settings: Record<string, unknown>;
}

/** A fingerprint of which photos a dataset lists, under which labels (not of their pixels). */
export function listingFingerprint(listing: DatasetListing): string {
  const root = resolve(listing.root);
  const rows = [
    ...listing.train.map((p) => `train\t${p.id}\t${p.label}\t${relative(root, resolve(p.path))}`),
    ...listing.test.map((p) => `test\t${p.id}\t\t${relative(root, resolve(p.path))}`),
  ].sort();
  return sha256Hex(rows.join("\n"), 16);
}

/** The first field where two identities differ, as "field: this folder has A, asked B". */
export function identityDifference(saved: RunIdentity, wanted: RunIdentity): string | undefined {
  const fields: [string, unknown, unknown][] = [
    ["dataset root", saved.dataset.root, wanted.dataset.root],
    ["preset", saved.preset, wanted.preset],
    ["seed", saved.seed, wanted.seed],
    ["weights", saved.weights.path, wanted.weights.path],
    ["weights SHA-256", saved.weights.sha256, wanted.weights.sha256],
    ...[...new Set([...Object.keys(saved.settings), ...Object.keys(wanted.settings)])]
      .map((key): [string, unknown, unknown] => [key, saved.settings[key], wanted.settings[key]]),
    ["dataset listing", saved.dataset.listing, wanted.dataset.listing],
  ];
  for (const [field, a, b] of fields) {
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      return `${field}: this run folder has ${show(a)}, the command asks ${show(b)}`;
    }
  }
  return undefined;
}

function show(value: unknown): string {
  const text = value === undefined ? "none" : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** What a run folder's run.json says about it, if it has one. A damaged file is an error naming
 * it: it is the folder's contract, and nothing in the folder can be trusted without it. */
export async function readIdentity(out: string): Promise<RunIdentity | "none" | "unknown"> {
  const file = runFiles(out).config;
  const text = await Deno.readTextFile(file).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  if (text === undefined) return "none";
  let parsed: { identity?: RunIdentity };
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DataError(
      file,
      `damaged (${(error as Error).message}): restore it from a backup (it binds the folder ` +
        `to its dataset, preset, seed and weights), or start the run in another folder (--out)`,
    );
  }
  const identity = parsed?.identity;
  const whole = identity && typeof identity.preset === "string" &&
    typeof identity.seed === "number" && typeof identity.dataset?.listing === "string" &&
    typeof identity.weights?.sha256 === "string" && typeof identity.settings === "object";
  if (identity && !whole) {
    throw new DataError(
      file,
      "damaged: its run identity lacks fields; restore it from a backup, or start the run " +
        "in another folder (--out)",
    );
  }
  return identity ?? "unknown";
}

/**
 * Refuses a run folder that holds another run (before anything is written). Returns whether the
 * folder already holds this run (a resume) or is new. `explain` words a listing difference.
 */
export async function checkIdentity(
  out: string,
  wanted: RunIdentity,
  explain?: () => Promise<string | undefined>,
): Promise<"new" | "resume"> {
  const info = await Deno.stat(out).catch(() => undefined);
  if (info && !info.isDirectory) {
    throw new DataError(out, "not a folder: the run folder (--out) must be a folder or not exist");
  }
  const saved = await readIdentity(out);
  const file = runFiles(out).config;
  const advice = "start it in another folder (--out)";
  if (saved === "unknown") {
    throw new DataError(file, `not a run of this version (no run identity); ${advice}`);
  }
  if (saved === "none") {
    await refuseForeignFolder(out, [], `not empty and not a run folder (no run.json); ${advice}`);
    return "new";
  }
  const difference = identityDifference(saved, wanted);
  if (!difference) return "resume";
  const detail = difference.startsWith("dataset listing") ? await explain?.() : undefined;
  throw new DataError(file, `${detail ?? difference}; ${advice}`);
}

/**
 * Refuses, with `problem`, a folder that holds anything but dot-files (its lock), the `allowed`
 * names, and what a start of this project leaves when it is cut short: temporary files
 * (`*.tmp-PID`, `*.part-PID`, whoever's they are: a live process's start is refused by the lock)
 * and folders holding nothing else (an empty `checkpoints/`).
 */
export async function refuseForeignFolder(
  out: string,
  allowed: readonly string[],
  problem: string,
): Promise<void> {
  const entries = await Array.fromAsync(Deno.readDir(out)).catch(() => []);
  for (const e of entries) {
    if (e.name.startsWith(".") || allowed.includes(e.name)) continue;
    if (!(await onlyLeftovers(join(out, e.name), e))) throw new DataError(out, problem);
  }
}

/** Whether a path is a cut-short start's leftover: a temporary, or a folder of nothing else. */
async function onlyLeftovers(path: string, entry: Deno.DirEntry): Promise<boolean> {
  if (TEMPORARY.test(entry.name) || entry.name.startsWith(".")) return true;
  if (!entry.isDirectory) return false;
  for await (const inner of Deno.readDir(path)) {
    if (!(await onlyLeftovers(join(path, inner.name), inner))) return false;
  }
  return true;
}

const TEMPORARY = /\.(?:tmp|part)-\d+$/;

export interface RunLock {
  release(): Promise<void>;
}

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
  /** Held by a notebook kernel, which never ends by itself: the remedy is another. */
  notebook?: boolean;
}

let lockFiles = 0;

/**
 * Takes the run folder's lock, or refuses with who holds it.
 *
 * The lock is `.lock`, holding the holder's pid, host and start time. It is written to a private
 * file first, and that file is locked (`flock`) and then published whole with a hard link, which
 * fails when `.lock` exists (the pattern of git's lock files and maildir): no reader ever sees a
 * half-written lock, and two processes started together cannot both win. The `flock` lives as
 * long as the holder's process, so a lock whose process is gone (killed with -9, a crashed
 * kernel) is known to be stale without guessing from pids, and is broken by whoever takes its
 * `flock` first; the others wait and read the new holder.
 */
export async function lockRunFolder(out: string): Promise<RunLock> {
  await Deno.mkdir(out, { recursive: true });
  const path = runFiles(out).lock;
  const me: LockHolder = {
    pid: Deno.pid,
    host: hostname(),
    started: new Date().toISOString(),
    ...(jupyter() ? { notebook: true } : {}),
  };
  const mine = `${path}.${++lockFiles}.tmp-${Deno.pid}`;
  const file = await Deno.open(mine, { createNew: true, write: true, read: true });
  try {
    await file.write(new TextEncoder().encode(JSON.stringify(me)));
    if (!(await file.tryLock(true))) throw new Error(`${mine}: cannot lock a new private file`);
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        await Deno.link(mine, path);
        await Deno.remove(mine);
        let released = false;
        return {
          // Unpublished first, unlocked second: a lock file on disk is always a held lock or
          // a dead process's.
          release: async () => {
            if (released) return;
            released = true;
            await Deno.remove(path).catch(() => {});
            file.close();
          },
        };
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      }
      const holder = await breakIfStale(path);
      if (holder === "broken") continue;
      if (holder && (holder.host !== me.host || processAlive(holder.pid))) {
        throw new DataError(
          path,
          holder.notebook
            ? `in use by a notebook's kernel (process ${holder.pid} on ${holder.host}) since ` +
              `${holder.started}: run that notebook's last cell, which closes the run, or shut ` +
              `its kernel down`
            : `in use by process ${holder.pid} on ${holder.host} since ${holder.started}; ` +
              `wait for it to end, or remove this file if that process is gone`,
        );
      }
      // Being published or broken by another process this very moment: look again shortly.
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new DataError(path, "could not take the lock: other processes keep taking it");
  } catch (error) {
    file.close();
    await Deno.remove(mine).catch(() => {});
    throw error;
  }
}

/**
 * Removes `.lock` when no process holds its `flock` (its holder is gone), and says so; else
 * returns what the lock says of its holder (undefined if it vanished meanwhile).
 */
async function breakIfStale(path: string): Promise<LockHolder | "broken" | undefined> {
  const lock = await Deno.open(path, { read: true }).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  if (!lock) return undefined;
  try {
    if (await lock.tryLock(true)) {
      // Nobody can unlink this file now without its flock, which is ours; check that the path
      // still names it (its holder may have released it and another taken the path) first.
      const [held, named] = [await lock.stat(), await Deno.stat(path).catch(() => undefined)];
      if (named && named.ino === held.ino && named.dev === held.dev) {
        await Deno.remove(path);
        return "broken";
      }
      return undefined;
    }
    const text = new TextDecoder().decode(await readAll(lock));
    try {
      return JSON.parse(text) as LockHolder;
    } catch {
      throw new DataError(path, "damaged lock file; remove it if no process uses this run folder");
    }
  } finally {
    lock.close();
  }
}

/** Who holds a folder's lock now, if anyone: read only (a stale lock is left for its breaker). */
export async function lockHolder(out: string): Promise<LockHolder | undefined> {
  const lock = await Deno.open(runFiles(out).lock, { read: true }).catch(() => undefined);
  if (!lock) return undefined;
  try {
    if (await lock.tryLock(true)) return undefined; // its holder is gone
    return JSON.parse(new TextDecoder().decode(await readAll(lock))) as LockHolder;
  } catch {
    return undefined;
  } finally {
    lock.close();
  }
}

/** A small file's bytes through its open handle (the path may name another file by now). */
async function readAll(file: Deno.FsFile): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(4096);
  for (let n = await file.read(buffer); n !== null; n = await file.read(buffer)) {
    chunks.push(buffer.slice(0, n));
  }
  const bytes = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let at = 0;
  for (const chunk of chunks) bytes.set(chunk, (at += chunk.length) - chunk.length);
  return bytes;
}
