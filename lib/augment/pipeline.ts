/**
 * The input pipeline: batches are made ahead of the training step in a Web Worker, so decoding
 * from the cache and augmenting (pure JS) overlap the step instead of adding to it. Each batch is
 * a pure function of (config, k), so the worker can run ahead and a resumed run can start at any
 * k; `inline` makes the same batches on the calling thread (tests, notebooks).
 */
import { type CacheView, ImageCache } from "../data/image_cache.ts";
import type { LabelMap } from "../data/labels.ts";
import { groupByClass } from "../data/split.ts";
import { type Batch, makeBatch, type PhotoSource, type ScaleOptions } from "./batch.ts";
import type { Resample } from "./ops.ts";
import { policy, type PolicyName } from "./policy.ts";
import { BatchSampler, type Sample } from "./sampler.ts";

export interface StreamConfig {
  /** The photos' frames (the cache's view, read in the worker under the owner's lock). */
  cache: CacheView;
  /** Photo ids per class index (training photos, plus pseudo-labelled ones for transfer). */
  byClass: string[][];
  /** Photos a zoom-out may paste onto. */
  backgroundIds: string[];
  policy: PolicyName;
  /** Switch off parts of the policy (ablations), e.g. `{ splice: false, mask: false }`. */
  without?: { splice?: false; mask?: false; rotate?: false; zoom?: false; flip?: false };
  /** "plain": uniform batches instead of the seed's class pairs (ablation). */
  sampler?: "plain";
  seed: number;
  batchSize?: number;
  mode?: Resample;
}

/** The stream over a pool of labelled photos: grouped by class index, and every photo of the
 * pool a possible zoom-out background (the seed: any training photo, any class). */
export function poolStream(
  cache: ImageCache,
  pool: readonly { id: string; label: string }[],
  labels: LabelMap,
  options: Omit<StreamConfig, "cache" | "byClass" | "backgroundIds">,
): StreamConfig {
  return {
    cache: cache.view,
    byClass: groupByClass(pool, labels).map((group) => group.map((p) => p.id)),
    backgroundIds: pool.map((p) => p.id),
    ...options,
  };
}

/** A photo source over the decoded-image cache. */
export function cacheSource(cache: ImageCache, backgroundIds: readonly string[]): PhotoSource {
  return { size: cache.size, read: (id, into) => cache.read(id, into), backgroundIds };
}

/** Makes batch k of a stream (what the worker runs); `samples(k)` says which photos it draws. */
export function batchMaker(
  config: StreamConfig,
): { make(k: number, options?: ScaleOptions): Batch; samples(k: number): Sample[]; close(): void } {
  const cache = new ImageCache(config.cache, true);
  const p = { ...policy(config.policy), ...config.without };
  const sampler = new BatchSampler(config.byClass, {
    seed: config.seed,
    batchSize: config.batchSize,
    pairs: p.splice,
    plain: config.sampler === "plain",
  });
  const source = cacheSource(cache, config.backgroundIds);
  return {
    make: (k, options) =>
      makeBatch(sampler.batch(k), source, p, config.seed, k, config.mode, options),
    samples: (k) => sampler.batch(k),
    close: () => cache.close(),
  };
}

export interface BatchStream {
  /** The next batch in order (k = start, start + 1, ...). */
  next(): Promise<Batch>;
  close(): void;
}

/** Batches made on this thread. */
export function inlineStream(config: StreamConfig, start = 0): BatchStream {
  const maker = batchMaker(config);
  let k = start;
  return {
    next: () => Promise.resolve(maker.make(k++)),
    close: () => maker.close(),
  };
}

/** Batches made `prefetch` ahead in a worker. */
export function workerStream(config: StreamConfig, start = 0, prefetch = 3): BatchStream {
  const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  const pending = new Map<number, { resolve: (b: Batch) => void; reject: (e: Error) => void }>();
  const ready = new Map<number, Promise<Batch>>();
  let requested = start;
  let k = start;
  let failure: Error | undefined;
  worker.onmessage = (event: MessageEvent) => {
    const { k: done, images, labels, n, size, error } = event.data;
    const waiter = pending.get(done);
    pending.delete(done);
    if (error) waiter?.reject(new Error(`batch ${done}: ${error}`));
    else {waiter?.resolve({
        images: new Float32Array(images),
        labels: new Int32Array(labels),
        n,
        size,
      });}
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    failure = new Error(`batch worker failed: ${event.message}`);
    for (const waiter of pending.values()) waiter.reject(failure);
    pending.clear();
  };
  worker.postMessage({ type: "init", config });
  const request = () => {
    const at = requested++;
    const promise = new Promise<Batch>((resolve, reject) => pending.set(at, { resolve, reject }));
    promise.catch(() => {}); // a prefetched batch nobody asks for must not be an unhandled error
    ready.set(at, promise);
    worker.postMessage({ type: "batch", k: at });
  };
  for (let i = 0; i < prefetch; i++) request();
  return {
    next() {
      if (failure) return Promise.reject(failure);
      const batch = ready.get(k)!;
      ready.delete(k++);
      request();
      return batch;
    },
    close() {
      worker.terminate();
      for (const waiter of pending.values()) waiter.reject(new Error("batch stream closed"));
      pending.clear();
    },
  };
}

/**
 * Batch k of a stream, made here and now (to look at one in a notebook).
 *
 * @example
 * ```ts
 * const config = poolStream(cache, photos, labels, { policy: "Train_DA", seed: 0, batchSize: 32 });
 * await showBatch(peekBatch(config, 0));
 * ```
 */
export function peekBatch(config: StreamConfig, k = 0): Batch {
  const maker = batchMaker(config);
  try {
    return maker.make(k);
  } finally {
    maker.close();
  }
}

/** The samples batch k of a stream draws (photo ids, two for a splice), in the batch's order. */
export function peekSamples(config: StreamConfig, k = 0): Sample[] {
  const maker = batchMaker(config);
  try {
    return maker.samples(k);
  } finally {
    maker.close();
  }
}
