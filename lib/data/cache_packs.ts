/**
 * The decoded-photo cache's packs on disk, and its cap. A pack is `frames-<size>px-<interp>-<hash>`
 * as two files: `.rgb` (raw frames, written once) and `.json` (which photo each frame is, written
 * last: its presence marks a complete pack). A photo is known by a key made of its real path,
 * size, modification time and inode, so the photos a run decoded are found again by `predict`
 * over the same files, a notebook's symlinked slice or a second run: none is decoded or written
 * twice.
 *
 * The cache is bounded: when its packs pass the cap (`DOGS_CACHE_GB`, default 10), the least
 * recently used are removed until it fits, never one in use (a process reading a pack holds a
 * shared `flock` on it; eviction needs the exclusive one). Everything here can be made again
 * from the photos, so eviction loses no work. `deno task cache` shows the packs and clears them.
 */
import { basename, join } from "node:path";
import { envNumber } from "../env.ts";
import { CACHE_VERSION } from "./image_cache.ts";

/** What a complete pack's `.json` holds. */
export interface PackMeta {
  version: typeof CACHE_VERSION;
  size: number;
  interpolation: string;
  /** The key of the photo in each frame slot; null where its photo did not decode. */
  keys: (string | null)[];
  /** Photos that did not decode, by key, with the decoder's reason. */
  failed: { key: string; problem: string }[];
}

/** A pack as listed: complete or not, of this version or an older one. */
export interface PackInfo {
  /** The pack's name: its files are `<name>.rgb` and `<name>.json`. */
  name: string;
  rgb: string;
  meta: string;
  bytes: number;
  /** When a set last opened it (the `.json`'s modification time, touched on every use). */
  lastUsed: Date;
  /** Its metadata, when it is a complete pack of this version. */
  contents?: PackMeta;
}

export const PACK_PREFIX = "frames-";

/** The default cap on the cache's size, in GB (10^9 bytes). */
export const DEFAULT_CACHE_GB = 10;

/** The cap in bytes: `DOGS_CACHE_GB`, else the default. */
export function cacheLimitBytes(): number {
  const gb = envNumber("DOGS_CACHE_GB", { above: 0, max: 1e6, unit: "a size in GB" });
  return (gb ?? DEFAULT_CACHE_GB) * 1e9;
}

/** The pack files' base name for a set of frames. */
export function packName(size: number, interpolation: string, hash: string): string {
  return `${PACK_PREFIX}${size}px-${interpolation}-${hash}`;
}

/** A complete pack's metadata, or undefined (incomplete, damaged, another version). */
export async function readPackMeta(file: string): Promise<PackMeta | undefined> {
  try {
    const meta = JSON.parse(await Deno.readTextFile(file)) as PackMeta;
    const whole = meta?.version === CACHE_VERSION && typeof meta.size === "number" &&
      typeof meta.interpolation === "string" && Array.isArray(meta.keys) &&
      meta.keys.every((k) => k === null || typeof k === "string") && Array.isArray(meta.failed);
    return whole ? meta : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every pack in a cache folder: this version's and older ones (`<size>px-<interp>-<hash>` of
 * version 3), complete or left half-written by a killed process. Files of other kinds (the
 * `downloads/` folder, anything a user put there) are not packs.
 */
export async function listPacks(dir: string): Promise<PackInfo[]> {
  const entries = await Array.fromAsync(Deno.readDir(dir)).catch(() => []);
  const names = new Set<string>();
  for (const e of entries) {
    const m = /^((?:frames-)?\d+px-[a-z0-9]+-[0-9a-f]+)\.(rgb|json)$/.exec(e.name);
    if (e.isFile && m) names.add(m[1]);
  }
  const packs: PackInfo[] = [];
  for (const name of [...names].sort()) {
    const rgb = join(dir, `${name}.rgb`);
    const meta = join(dir, `${name}.json`);
    const [r, j] = await Promise.all([rgb, meta].map((f) => Deno.stat(f).catch(() => undefined)));
    if (!r && !j) continue; // removed meanwhile
    const contents = name.startsWith(PACK_PREFIX) && r ? await readPackMeta(meta) : undefined;
    packs.push({
      name,
      rgb,
      meta,
      bytes: (r?.size ?? 0) + (j?.size ?? 0),
      lastUsed: (j ?? r)!.mtime ?? new Date(0),
      contents,
    });
  }
  return packs;
}

/** Marks packs as just used (least-recently-used eviction reads it). */
export async function touchPacks(rgbFiles: readonly string[]): Promise<void> {
  const now = new Date();
  for (const rgb of rgbFiles) {
    await Deno.utime(rgb.replace(/\.rgb$/, ".json"), now, now).catch(() => {});
  }
}

/**
 * Removes a pack unless a process holds it: true when removed. The exclusive lock is taken
 * without waiting, so a pack in use is passed over, and removing the `.json` first makes it
 * incomplete to anyone who looks while the frames go.
 */
export async function evictPack(pack: PackInfo): Promise<boolean> {
  const file = await Deno.open(pack.rgb, { read: true }).catch(() => undefined);
  try {
    if (file && !(await file.tryLock(true))) return false;
    await Deno.remove(pack.meta).catch(() => {});
    await Deno.remove(pack.rgb).catch(() => {});
    return true;
  } finally {
    file?.close();
  }
}

/** Whether a process holds the pack (reads it now). */
export async function packInUse(pack: PackInfo): Promise<boolean> {
  const file = await Deno.open(pack.rgb, { read: true }).catch(() => undefined);
  try {
    return file ? !(await file.tryLock(true)) : false;
  } finally {
    file?.close();
  }
}

export interface PruneResult {
  evicted: PackInfo[];
  /** Bytes the cache holds afterwards. */
  bytes: number;
  /** Packs that had to stay because a process holds them. */
  inUse: PackInfo[];
}

/**
 * Evicts least recently used packs until the cache holds at most `limit` bytes (0: every pack not
 * in use, `deno task cache --clear`). Packs of older versions and half-written ones go first: no
 * set will read them again.
 */
export async function prunePacks(dir: string, limit: number): Promise<PruneResult> {
  const packs = await listPacks(dir);
  let bytes = packs.reduce((sum, p) => sum + p.bytes, 0);
  const evicted: PackInfo[] = [];
  const inUse: PackInfo[] = [];
  const order = [...packs].sort((a, b) =>
    Number(!!a.contents) - Number(!!b.contents) || a.lastUsed.getTime() - b.lastUsed.getTime()
  );
  for (const pack of order) {
    if (bytes <= limit) break;
    if (await evictPack(pack)) {
      evicted.push(pack);
      bytes -= pack.bytes;
    } else inUse.push(pack);
  }
  return { evicted, bytes, inUse };
}

/** "1.36 GB" */
export function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** One line after a prune that removed something or could not reach the cap (else undefined). */
export function pruneLine(dir: string, limit: number, result: PruneResult): string | undefined {
  const cap = `its cap of ${formatBytes(limit)} (DOGS_CACHE_GB)`;
  if (result.bytes > limit) {
    return `decoded-photo cache ${dir}: ${formatBytes(result.bytes)}, over ${cap}: the rest ` +
      `is in use by this or another process`;
  }
  if (!result.evicted.length) return undefined;
  const freed = result.evicted.reduce((sum, p) => sum + p.bytes, 0);
  return `decoded-photo cache ${dir}: removed ${result.evicted.length} least recently used ` +
    `pack(s) (${formatBytes(freed)}: ${
      result.evicted.map((p) => basename(p.rgb)).slice(0, 2).join(", ")
    }${result.evicted.length > 2 ? ", ..." : ""}) to stay under ${cap}`;
}
