/**
 * Reading the decoded-photo cache that `cache.ts` builds. Frames are read on demand with
 * positioned reads: the Baidu set at 299 px is ~5 GB, more than a JS heap should hold, and the OS
 * page cache keeps hot frames in memory anyway.
 *
 * The cache is a set of packs, each a file of raw RGB frames written once; a set of photos (a run's
 * split, a folder to predict) is a view over the packs that hold its frames, so a photo decoded for
 * one set is read from the same pack by every other. The main thread's cache holds a shared lock
 * (`flock`) on each of its packs while it is open: eviction takes a pack only when it gets the
 * exclusive lock, so no pack disappears under a run, a notebook or their workers.
 *
 * Apart from `cache.ts` on purpose: the augmentation and trunk workers read frames, and this
 * module does not load sharp. A worker that loads sharp's native library and is then terminated
 * can leave glibc's heap corrupt when the process exits (lovell/sharp#2263; seen here as a test
 * process ending in "double free or corruption" after every test had passed).
 */
import fs from "node:fs";
import { DataError, type Skipped } from "../errors.ts";
import type { Interpolation, RgbImage } from "./image.ts";

/** Bumped when a frame's pixels or the packs' layout change for the same photo and settings (3:
 * the seed's centre square and nearest resize, `square.ts`; 4: packs shared by every set). */
export const CACHE_VERSION = 4;

/** A set of photos in the cache, as plain data a worker can be sent. */
export interface CacheView {
  size: number;
  interpolation: Interpolation;
  /** Pack files (`.rgb`) the frames are in. */
  packs: string[];
  /** Ids of decodable photos, input order; photo `ids[i]` is frame `slots[i]` of pack
   * `packs[packOf[i]]`. */
  ids: string[];
  packOf: number[];
  slots: number[];
  /** Photos that could not be decoded, with the reason: reported, never trained on. */
  skipped: Skipped[];
}

export class ImageCache {
  /** Open pack files, or undefined once closed (a read after `close()` opens them again: a
   * notebook cell that closed it and runs again finds it working). */
  #fds: (number | undefined)[];
  /** The shared locks that keep the packs from eviction (main thread only). */
  #locks: (Deno.FsFile | undefined)[];
  readonly #hold: boolean;
  readonly #frameOf: Map<string, number>;
  readonly frameBytes: number;

  constructor(
    readonly view: CacheView,
    /** Whether every frame was found in the cache rather than decoded now. */
    readonly reused: boolean,
    /** Hold the packs' shared locks while open (the owner of a set; workers read under it). */
    { hold = false }: { hold?: boolean } = {},
  ) {
    this.#hold = hold;
    this.#fds = view.packs.map(() => undefined);
    this.#locks = view.packs.map(() => undefined);
    this.#frameOf = new Map(view.ids.map((id, i) => [id, i]));
    this.frameBytes = view.size * view.size * 3;
    if (hold) view.packs.forEach((_, p) => this.#open(p));
  }

  get size(): number {
    return this.view.size;
  }

  /** Ids of the photos held, in input order; undecodable photos are left out. */
  get ids(): readonly string[] {
    return this.view.ids;
  }

  /** Photos that could not be decoded, with the reason: reported, never trained on. */
  get skipped(): readonly Skipped[] {
    return this.view.skipped;
  }

  has(id: string): boolean {
    return this.#frameOf.has(id);
  }

  /** The photo's pixels, read into `into` when given (reuse a buffer in hot loops). */
  read(id: string, into?: Uint8Array): RgbImage {
    const i = this.#frameOf.get(id);
    if (i === undefined) throw new Error(`photo '${id}' is not in this cache`);
    const data = into ?? new Uint8Array(this.frameBytes);
    if (data.length !== this.frameBytes) {
      throw new Error(`buffer of ${data.length} bytes, frame is ${this.frameBytes}`);
    }
    const pack = this.view.packOf[i];
    const fd = this.#fds[pack] ?? this.#open(pack);
    const at = this.view.slots[i] * this.frameBytes;
    let done = 0;
    while (done < this.frameBytes) {
      const n = fs.readSync(fd, data, done, this.frameBytes - done, at + done);
      if (n === 0) {
        throw new Error(`${this.view.packs[pack]}: truncated cache pack (frame of '${id}')`);
      }
      done += n;
    }
    return { width: this.size, height: this.size, data };
  }

  #open(pack: number): number {
    const file = this.view.packs[pack];
    try {
      if (this.#hold && !this.#locks[pack]) {
        const lock = Deno.openSync(file, { read: true });
        lock.lockSync(false);
        this.#locks[pack] = lock;
      }
      return this.#fds[pack] = fs.openSync(file, "r");
    } catch (error) {
      if (
        !(error instanceof Deno.errors.NotFound) && (error as { code?: string }).code !== "ENOENT"
      ) {
        throw error;
      }
      throw new DataError(
        file,
        "this decoded-photo pack is gone (the cache was cleared or pruned after these photos " +
          "were opened and closed): open them again",
      );
    }
  }

  close(): void {
    for (const fd of this.#fds) if (fd !== undefined) fs.closeSync(fd);
    for (const lock of this.#locks) lock?.close();
    this.#fds = this.#fds.map(() => undefined);
    this.#locks = this.#locks.map(() => undefined);
  }
}
