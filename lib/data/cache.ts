/**
 * Building the decoded-image cache (`image_cache.ts` reads it): every photo center-cropped and
 * resized once, stored as raw RGB frames in one binary file under `data/cache/`, so an epoch reads
 * frames instead of decoding 18k JPEGs again. The file name is a hash of the settings and of every
 * source file's path, size and mtime, so a changed photo or setting never serves stale pixels.
 *
 * A photo that does not decode is a fact about the photo, recorded in the metadata and skipped by
 * every run. A failed write (disk full) is a fact about this machine at this moment: the build
 * stops, nothing is marked complete, and the next run builds the cache again.
 */
import fs from "node:fs";
import { join, resolve } from "node:path";
import { DataError, FileSystemError, type Skipped } from "../errors.ts";
import { type Interpolation, loadImage } from "./image.ts";
import { CACHE_VERSION, type CacheMeta, ImageCache } from "./image_cache.ts";
import { DecodePool } from "./decode_pool.ts";

export { type CacheMeta, ImageCache } from "./image_cache.ts";
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
  /** Told, when the cache was built, which decoder took how many photos (one line). */
  onDecoded?: (line: string) => void;
}

/** Returns the cache for these photos, building it (in parallel) when missing or stale. */
export async function cacheImages(
  items: readonly { id: string; path: string }[],
  options: CacheOptions,
): Promise<ImageCache> {
  const { size, interpolation = "nearest", dir = cacheDir(), concurrency = 4 } = options;
  const key = cacheKey(items, size, interpolation);
  const base = join(dir, `${size}px-${interpolation}-${key.slice(0, 24)}`);
  const file = `${base}.rgb`;
  const metaFile = `${base}.json`;
  const frame = size * size * 3;
  const found = await readMeta(metaFile);
  const fileSize = (await Deno.stat(file).catch(() => undefined))?.size;
  if (found && fileSize === items.length * frame) return new ImageCache(file, found, true);

  // Frames go straight to disk at their input slot; a failed photo leaves a hole that no id uses.
  await Deno.mkdir(dir, { recursive: true });
  await removeStaleTemporaries(dir, false); // a killed decode's partial file
  const tmp = `${file}.tmp-${Deno.pid}`;
  const fd = fs.openSync(tmp, "w");
  const ok = new Array<boolean>(items.length).fill(false);
  const skipped: Skipped[] = [];
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
        // The path is the entry's own field: keep only the problem (the DataError names it).
        skipped.push({ path: items[i].path, problem: error.problem });
        options.onProgress?.(++done, items.length);
        continue;
      }
      try {
        fs.writeSync(fd, data, 0, data.length, i * frame);
      } catch (error) {
        failure ??= FileSystemError.of(file, error);
        return;
      }
      ok[i] = true;
      options.onProgress?.(++done, items.length);
    }
  };
  try {
    const inFlight = Math.max(1, concurrency, 2 * (pool?.size ?? 0));
    await Promise.all(Array.from({ length: inFlight }, worker));
    if (!failure) fs.ftruncateSync(fd, items.length * frame);
  } catch (error) {
    failure ??= FileSystemError.of(file, error);
  } finally {
    pool?.close();
    fs.closeSync(fd);
  }
  if (failure) {
    await Deno.remove(tmp).catch(() => {});
    throw failure;
  }
  await Deno.rename(tmp, file);
  options.onDecoded?.(decoderLine(items.length, (performance.now() - started) / 1000, pool));
  skipped.sort((a, b) => (a.path < b.path ? -1 : 1));
  const slots = ok.flatMap((good, i) => (good ? [i] : []));
  const meta: CacheMeta = {
    version: CACHE_VERSION,
    size,
    interpolation,
    ids: slots.map((i) => items[i].id),
    slots,
    skipped,
  };
  // The meta file is written last: its presence marks a complete cache.
  await writeTextAtomic(metaFile, JSON.stringify(meta));
  return new ImageCache(file, meta, false);
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

function cacheKey(
  items: readonly { id: string; path: string }[],
  size: number,
  interpolation: string,
): string {
  const files = items.map(({ id, path }) => {
    const info = fs.statSync(path, { throwIfNoEntry: false });
    return [id, resolve(path), info?.size ?? -1, info?.mtimeMs ?? -1];
  });
  const text = JSON.stringify({ version: CACHE_VERSION, size, interpolation, files });
  return sha256Hex(text);
}

/** The metadata of a complete cache; anything damaged or incomplete reads as no cache (it is
 * rebuilt: a cache holds nothing that cannot be made again). */
async function readMeta(path: string): Promise<CacheMeta | undefined> {
  try {
    const meta = JSON.parse(await Deno.readTextFile(path)) as CacheMeta;
    const strings = (a: unknown) => Array.isArray(a) && a.every((x) => typeof x === "string");
    const whole = meta?.version === CACHE_VERSION && typeof meta.size === "number" &&
      typeof meta.interpolation === "string" && strings(meta.ids) && Array.isArray(meta.slots) &&
      meta.slots.length === meta.ids.length && meta.slots.every(Number.isInteger) &&
      Array.isArray(meta.skipped);
    return whole ? meta : undefined;
  } catch {
    return undefined;
  }
}
