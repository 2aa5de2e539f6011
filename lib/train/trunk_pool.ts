/**
 * Runs the frozen trunk on several cores: one worker per core, each with its own tfjs wasm
 * instance on `threads` threads (default 1: a worker also makes its augmented batches in JS, so
 * one single-threaded worker per core keeps every core busy; bench/RESULTS.md compares splits).
 * Batch k goes to worker k mod N; results come back in order, identical to a single thread's.
 */
import type { CacheView } from "../data/image_cache.ts";
import type { StreamConfig } from "../augment/pipeline.ts";
import type { BackendRequest } from "../engine/tf.ts";
import type { ActivationSet } from "./features.ts";
import { checkStop } from "../stop.ts";

export interface TrunkWorkerInit {
  type: "init";
  backend: BackendRequest;
  /** The trunk as an ONNX graph taking planar images (`toOnnx([trunk], { planarInput: true })`):
   * the worker runs it on ONNX Runtime (one thread) and never starts tfjs. Without it, the worker
   * builds the trunk on tfjs' `backend`. */
  onnx?: Uint8Array;
  /** wasm threads per worker (1 unless measured better). */
  threads?: number;
  backbone: { name: string; alpha?: number; size: number };
  weights: string;
  splitStage: string;
  cache: CacheView;
}

/** The message id a worker answers `close` with, once it has released its session. */
export const CLOSED = -2;

export type TrunkJob =
  | { type: "batch"; config: StreamConfig; k: number }
  | { type: "photos"; ids: string[] };

export class TrunkPool {
  readonly #workers: Worker[];
  readonly #pending = new Map<
    number,
    { resolve: (r: { x: Float32Array; labels: Int32Array }) => void; reject: (e: Error) => void }
  >();
  #next = 0;
  #failure: Error | undefined;
  readonly #closed = new Map<Worker, () => void>();

  constructor(init: Omit<TrunkWorkerInit, "type">, size = navigator.hardwareConcurrency || 2) {
    this.#workers = Array.from({ length: Math.max(1, size) }, () => {
      const worker = new Worker(new URL("./trunk_worker.ts", import.meta.url), { type: "module" });
      worker.onmessage = (event: MessageEvent) => {
        const { id, x, labels, error } = event.data;
        if (id === CLOSED) {
          this.#closed.get(worker)?.();
          return;
        }
        if (id === -1) {
          this.#fail(new Error(`trunk worker failed to start: ${error}`));
          return;
        }
        const waiter = this.#pending.get(id);
        this.#pending.delete(id);
        if (error) waiter?.reject(new Error(`trunk worker: ${error}`));
        else waiter?.resolve({ x: new Float32Array(x), labels: new Int32Array(labels) });
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        this.#fail(new Error(`trunk worker crashed: ${event.message}`));
      };
      worker.postMessage({ type: "init", ...init });
      return worker;
    });
  }

  get size(): number {
    return this.#workers.length;
  }

  #fail(error: Error) {
    this.#failure = error;
    for (const waiter of this.#pending.values()) waiter.reject(error);
    this.#pending.clear();
  }

  run(job: TrunkJob, worker: number): Promise<{ x: Float32Array; labels: Int32Array }> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    const promise = new Promise<{ x: Float32Array; labels: Int32Array }>((resolve, reject) =>
      this.#pending.set(id, { resolve, reject })
    );
    this.#workers[worker % this.#workers.length].postMessage({ id, job });
    return promise;
  }

  /** Trunk activations of a stream's batches 0..batches-1, or of the batches listed. */
  async stream(
    config: StreamConfig,
    batches: number | readonly number[],
    shape: number[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<ActivationSet> {
    const which = typeof batches === "number" ? [...Array(batches).keys()] : [...batches];
    const size = shape.reduce((a, b) => a * b, 1);
    const batchSize = config.batchSize ?? 32;
    const x = new Float32Array(which.length * batchSize * size);
    const labels = new Int32Array(which.length * batchSize);
    let done = 0;
    // Keep two jobs queued per worker, so no core waits for the main thread.
    let next = 0;
    const pump = async (): Promise<void> => {
      while (next < which.length) {
        const slot = next++;
        const result = await this.run({ type: "batch", config, k: which[slot] }, slot);
        x.set(result.x, slot * batchSize * size);
        labels.set(result.labels, slot * batchSize);
        onProgress?.(++done, which.length);
        checkStop("while caching the trunk's activations");
      }
    };
    await Promise.all(Array.from({ length: this.size * 2 }, pump));
    const set = { x, labels, n: which.length * batchSize, shape };
    return typeof batches === "number" ? set : { ...set, batches: which };
  }

  /** Trunk activations of cached photos (center crop), in chunks spread over the workers. */
  async photos(
    photos: readonly { id: string; label: number }[],
    shape: number[],
    chunk = 32,
    onProgress?: (done: number, total: number) => void,
  ): Promise<ActivationSet> {
    const size = shape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(photos.length * size);
    const starts = Array.from({ length: Math.ceil(photos.length / chunk) }, (_, i) => i * chunk);
    let done = 0;
    await Promise.all(starts.map(async (start, i) => {
      const ids = photos.slice(start, start + chunk).map((p) => p.id);
      const result = await this.run({ type: "photos", ids }, i);
      x.set(result.x, start * size);
      done += ids.length;
      onProgress?.(done, photos.length);
    }));
    return { x, labels: Int32Array.from(photos, (p) => p.label), n: photos.length, shape };
  }

  /** Ends the workers, each after it released what it holds natively (an ONNX Runtime
   * session alive at exit can abort the process). */
  async close(): Promise<void> {
    this.#fail(new Error("trunk pool closed"));
    await Promise.all(this.#workers.map((worker) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        this.#closed.set(worker, () => {
          clearTimeout(timer);
          resolve();
        });
        worker.postMessage({ type: "close" });
      })
    ));
    for (const w of this.#workers) w.terminate();
  }
}
