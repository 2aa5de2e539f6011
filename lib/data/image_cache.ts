/**
 * Reading the decoded-image cache that `cache.ts` builds. Frames are read on demand with
 * positioned reads: the Baidu set at 299 px is ~5 GB, more than a JS heap should hold, and the OS
 * page cache keeps hot frames in memory anyway.
 *
 * Apart from `cache.ts` on purpose: the augmentation and trunk workers read frames, and this
 * module does not load sharp. A worker that loads sharp's native library and is then terminated
 * can leave glibc's heap corrupt when the process exits (lovell/sharp#2263; seen here as a test
 * process ending in "double free or corruption" after every test had passed).
 */
import fs from "node:fs";
import type { Skipped } from "../errors.ts";
import type { Interpolation, RgbImage } from "./image.ts";

/** Bumped when a frame's pixels change for the same photo and settings (3: the seed's centre square
 * and nearest resize, `square.ts`, instead of libvips' resize-then-crop). */
export const CACHE_VERSION = 3;

export interface CacheMeta {
  version: typeof CACHE_VERSION;
  size: number;
  interpolation: Interpolation;
  /** Ids of decodable photos, input order; `slots[i]` is the frame of `ids[i]` in the file. */
  ids: string[];
  slots: number[];
  skipped: Skipped[];
}

export class ImageCache {
  /** The open file, or undefined once closed (a read after `close()` opens it again: a notebook
   * cell that closed it and runs again finds it working). */
  #fd: number | undefined;
  readonly #slotOf: Map<string, number>;
  readonly frameBytes: number;

  constructor(
    readonly file: string,
    readonly meta: CacheMeta,
    /** Whether this cache was found on disk rather than built now. */
    readonly reused: boolean,
  ) {
    this.#fd = fs.openSync(file, "r");
    this.#slotOf = new Map(meta.ids.map((id, i) => [id, meta.slots[i]]));
    this.frameBytes = meta.size * meta.size * 3;
  }

  get size(): number {
    return this.meta.size;
  }

  /** Ids of the photos held, in input order; undecodable photos are left out. */
  get ids(): readonly string[] {
    return this.meta.ids;
  }

  /** Photos that could not be decoded, with the reason: reported, never trained on. */
  get skipped(): readonly Skipped[] {
    return this.meta.skipped;
  }

  has(id: string): boolean {
    return this.#slotOf.has(id);
  }

  /** The photo's pixels, read into `into` when given (reuse a buffer in hot loops). */
  read(id: string, into?: Uint8Array): RgbImage {
    const slot = this.#slotOf.get(id);
    if (slot === undefined) throw new Error(`photo '${id}' is not in cache ${this.file}`);
    const data = into ?? new Uint8Array(this.frameBytes);
    if (data.length !== this.frameBytes) {
      throw new Error(`buffer of ${data.length} bytes, frame is ${this.frameBytes}`);
    }
    const fd = this.#fd ??= fs.openSync(this.file, "r");
    let done = 0;
    while (done < this.frameBytes) {
      const n = fs.readSync(
        fd,
        data,
        done,
        this.frameBytes - done,
        slot * this.frameBytes + done,
      );
      if (n === 0) throw new Error(`${this.file}: truncated cache file (frame ${slot})`);
      done += n;
    }
    return { width: this.size, height: this.size, data };
  }

  close(): void {
    if (this.#fd !== undefined) fs.closeSync(this.#fd);
    this.#fd = undefined;
  }
}
