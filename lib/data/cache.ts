/**
 * Building the decoded-photo cache (`image_cache.ts` reads it): every photo center-cropped and
 * resized once, stored as raw RGB frames in packs under `data/cache/`, so an epoch reads frames
 * instead of decoding 18k JPEGs again. A set of photos is looked up photo by photo (by real path,
 * size, modification time and inode: a changed photo is a new key, never stale pixels); only
 * those no pack holds are decoded, into one new pack (`cache_packs.ts`).
 *
 * A photo that does not decode is a fact about the photo, recorded in its pack and skipped by
 * every run. A failed write (disk full) is a fact about this machine at this moment: the build
 * stops, nothing is marked complete, and the next run builds the pack again.
 */
import { logLine } from "../progress.ts";
import fs from "node:fs";
import { join, resolve } from "node:path";
import { DataError, FileSystemError } from "../errors.ts";
import { type Interpolation, loadImage } from "./image.ts";
import { type CacheView, ImageCache } from "./image_cache.ts";
import { DecodePool } from "./decode_pool.ts";
import {
  cacheLimitBytes,
  listPacks,
  type PackMeta,
  packName,
  pruneLine,
  prunePacks,
  touchPacks,
} from "./cache_packs.ts";
import { CACHE_VERSION } from "./image_cache.ts";

export { type CacheView, ImageCache } from "./image_cache.ts";
import { removeStaleTemporaries, sha256Hex, writeTextAtomic } from "../files.ts";
import { cacheDir } from "../paths.ts";

export interface CacheOptions {
  size: number;
  interpolation?: Interpolation;
  /** Where cache files live; default `data/cache` in the project. */
  dir?: string;
  /** Photos decoded at once by sharp (libvips threads inside each as well); the decode pool keeps
   * two per core in flight. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** Told, when photos were decoded, which decoder took how many (one line). */
  onDecoded?: (line: string) => void;
  /** Told when packs were evicted to keep the cache under its cap (one line). */
  log?: (line: string) => void;
}

type Item = { id: string; path: string };

/** Where a photo's frame is, or why it has none. */
type Entry = { rgb: string; slot: number } | { problem: string };

/**
 * The cache for these photos: frames found in existing packs, the others decoded (in parallel)
 * into a new pack. The returned cache holds its packs until closed.
 */
export async function cacheImages(
  items: readonly Item[],
  options: CacheOptions,
): Promise<ImageCache> {
  const { size, interpolation = "nearest", dir = cacheDir() } = options;
  const limit = cacheLimitBytes();
  await Deno.mkdir(dir, { recursive: true });
  await removeStaleTemporaries(dir, false); // a killed decode's partial pack
  const keys = items.map((item) => photoKey(item.path));
  for (let attempt = 1;; attempt++) {
    const index = await readIndex(dir, size, interpolation);
    const missing = items.flatMap((_, i) => (index.has(keys[i]) ? [] : [i]));
    const built = missing.length
      ? await buildPack(dir, missing.map((i) => items[i]), missing.map((i) => keys[i]), options)
      : undefined;
    for (const [key, entry] of built?.entries ?? []) index.set(key, entry);
    built?.share();
    const cache = new ImageCache(viewOf(items, keys, index, size, interpolation), !built, {
      hold: true,
    });
    built?.release();
    // A pack evicted by another process between the lookup and the lock: look again.
    const gone = await packsGone(cache.view.packs);
    if (gone && attempt < 3) {
      cache.close();
      continue;
    }
    await touchPacks(cache.view.packs);
    const line = pruneLine(dir, limit, await prunePacks(dir, limit));
    if (line) (options.log ?? logLine)(line);
    return cache;
  }
}

/** A photo's key: the same file (through any path or link) unchanged since, the same key. */
export function photoKey(path: string): string {
  try {
    const real = fs.realpathSync(path);
    const info = fs.statSync(real);
    return sha256Hex(JSON.stringify([real, info.size, info.mtimeMs, info.ino]), 32);
  } catch {
    return sha256Hex(JSON.stringify(["unreadable", resolve(path)]), 32);
  }
}

/** Every photo the complete packs of this size and resampling hold, by key. */
async function readIndex(
  dir: string,
  size: number,
  interpolation: string,
): Promise<Map<string, Entry>> {
  const index = new Map<string, Entry>();
  for (const pack of await listPacks(dir)) {
    const meta = pack.contents;
    if (!meta || meta.size !== size || meta.interpolation !== interpolation) continue;
    meta.keys.forEach((key, slot) => {
      if (key !== null && !index.has(key)) index.set(key, { rgb: pack.rgb, slot });
    });
    for (const { key, problem } of meta.failed) if (!index.has(key)) index.set(key, { problem });
  }
  return index;
}

/** The set as the cache's view: its photos' frames in the packs that hold them. */
function viewOf(
  items: readonly Item[],
  keys: readonly string[],
  index: Map<string, Entry>,
  size: number,
  interpolation: Interpolation,
): CacheView {
  const packs: string[] = [];
  const packIndex = new Map<string, number>();
  const view: CacheView = {
    size,
    interpolation,
    packs,
    ids: [],
    packOf: [],
    slots: [],
    skipped: [],
  };
  items.forEach((item, i) => {
    const entry = index.get(keys[i])!;
    if ("problem" in entry) {
      view.skipped.push({ path: item.path, problem: entry.problem });
      return;
    }
    let p = packIndex.get(entry.rgb);
    if (p === undefined) packIndex.set(entry.rgb, p = packs.push(entry.rgb) - 1);
    view.ids.push(item.id);
    view.packOf.push(p);
    view.slots.push(entry.slot);
  });
  view.skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return view;
}

async function packsGone(packs: readonly string[]): Promise<boolean> {
  for (const rgb of packs) {
    if (!(await Deno.stat(rgb.replace(/\.rgb$/, ".json")).catch(() => undefined))) return true;
  }
  return false;
}

/**
 * Decodes photos into a new pack: frames straight to disk at their slot (a failed photo leaves a
 * hole no key names), the `.json` last. The pack stays locked until the caller holds it.
 */
async function buildPack(
  dir: string,
  items: readonly Item[],
  keys: readonly string[],
  options: CacheOptions,
): Promise<{ entries: Map<string, Entry>; share(): void; release(): void }> {
  const { size, interpolation = "nearest", concurrency = 4 } = options;
  const name = packName(size, interpolation, sha256Hex(keys.join("\n"), 24));
  const rgb = join(dir, `${name}.rgb`);
  const tmp = `${rgb}.tmp-${Deno.pid}`;
  const frame = size * size * 3;
  const fd = fs.openSync(tmp, "w");
  // Nobody evicts a pack while its frames are written and it is renamed into place.
  const lock = Deno.openSync(tmp, { read: true });
  lock.lockSync(true);
  const slotKeys: (string | null)[] = new Array(items.length).fill(null);
  const failed: { key: string; problem: string }[] = [];
  let done = 0;
  let next = 0;
  let failure: Error | undefined;
  // Plain JPEGs decode with libjpeg-turbo on every core; the rest, and every error, go to sharp.
  const pool = interpolation === "nearest" ? new DecodePool() : undefined;
  const started = performance.now();
  const worker = async () => {
    let spare: Uint8Array | undefined; // the pool's last frame, written out: decoded into again
    while (next < items.length && !failure) {
      const i = next++;
      let data: Uint8Array;
      try {
        spare = await pool?.decode(items[i].path, size, spare);
        data = spare ?? (await loadImage(items[i].path, { size, interpolation })).data;
      } catch (error) {
        if (!(error instanceof DataError)) throw error;
        // The path is the set's own; keep only the problem (one line, as DataError words it).
        failed.push({ key: keys[i], problem: error.problem });
        options.onProgress?.(++done, items.length);
        continue;
      }
      try {
        fs.writeSync(fd, data, 0, data.length, i * frame);
      } catch (error) {
        failure ??= FileSystemError.of(rgb, error);
        return;
      }
      slotKeys[i] = keys[i];
      options.onProgress?.(++done, items.length);
    }
  };
  try {
    const inFlight = Math.max(1, concurrency, 2 * (pool?.size ?? 0));
    await Promise.all(Array.from({ length: inFlight }, worker));
    if (!failure) fs.ftruncateSync(fd, items.length * frame);
  } catch (error) {
    failure ??= FileSystemError.of(rgb, error);
  } finally {
    pool?.close();
    fs.closeSync(fd);
  }
  if (failure) {
    lock.close();
    await Deno.remove(tmp).catch(() => {});
    throw failure;
  }
  await Deno.rename(tmp, rgb);
  options.onDecoded?.(decoderLine(items.length, (performance.now() - started) / 1000, pool));
  const meta: PackMeta = { version: CACHE_VERSION, size, interpolation, keys: slotKeys, failed };
  // The meta file is written last: its presence marks a complete pack.
  try {
    await writeTextAtomic(rgb.replace(/\.rgb$/, ".json"), JSON.stringify(meta));
  } catch (error) {
    lock.close();
    throw FileSystemError.of(rgb.replace(/\.rgb$/, ".json"), error);
  }
  const entries = new Map<string, Entry>();
  slotKeys.forEach((key, slot) => key !== null && entries.set(key, { rgb, slot }));
  for (const { key, problem } of failed) entries.set(key, { problem });
  // Shared before the cache takes its own shared lock (an exclusive one would block it), then
  // let go: the pack is never unlocked in between.
  return { entries, share: () => lock.lockSync(false), release: () => lock.close() };
}

/** "decoded 9,025 photos in 3.1 s: 9,025 by libjpeg-turbo on 2 workers, 0 by sharp", and why
 * sharp took them all when it did. */
function decoderLine(n: number, seconds: number, pool: DecodePool | undefined): string {
  const count = (k: number) => k.toLocaleString("en-US");
  const head = `decoded ${count(n)} photos in ${seconds.toFixed(1)} s`;
  if (!pool) return `${head}, by sharp (its resampling kernel)`;
  const { decoded } = pool.counts;
  const line = `${head}: ${count(decoded)} by libjpeg-turbo on ${pool.size} workers, ` +
    `${count(n - decoded)} by sharp`;
  if (!pool.unavailable) return line;
  return `${line} (libjpeg-turbo: ${pool.unavailable}; with it, from Debian/Ubuntu's ` +
    "libturbojpeg0 or Homebrew's jpeg-turbo, plain JPEGs decode several times faster)";
}
