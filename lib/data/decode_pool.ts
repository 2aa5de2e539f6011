/**
 * Decoding on every core. sharp spends most of its time per photo in libvips' machinery and thread
 * hand-overs rather than in libjpeg (2-3 ms of CPU for a 224 px JPEG that libjpeg-turbo decodes in
 * ~0.3), and sharp cannot run in workers. Plain JPEGs go to libjpeg-turbo in one worker per core
 * instead; what they cannot take comes back as `undefined`, for sharp.
 */
import type { DecodeAnswer, DecodeJob } from "./decode_worker.ts";
import { decoderFromEnv } from "./turbojpeg.ts";

export class DecodePool {
  readonly #workers: Worker[];
  readonly #pending = new Map<number, { worker: number; resolve: (f?: Uint8Array) => void }>();
  readonly #load: number[];
  #next = 0;
  /** Why the pool took no more photos (no libjpeg-turbo, a crashed worker): sharp had them. */
  unavailable: string | undefined;
  #closed = false;
  /** Photos decoded here, photos handed back, and frames decoded into a caller's spare. */
  readonly counts = { decoded: 0, handedBack: 0, reused: 0 };

  constructor(size = navigator.hardwareConcurrency || 2) {
    decoderFromEnv();
    this.#load = new Array(Math.max(1, size)).fill(0);
    this.#workers = this.#load.map((_, w) => {
      const worker = new Worker(new URL("./decode_worker.ts", import.meta.url), { type: "module" });
      worker.onmessage = (event: MessageEvent<DecodeAnswer>) => {
        const answer = event.data;
        if ("unavailable" in answer) this.#stop(answer.unavailable);
        else {
          if (answer.reused) this.counts.reused++;
          this.#settle(answer.id, answer.frame);
        }
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        this.#stop(`decode worker ${w} crashed: ${event.message}`);
      };
      return worker;
    });
  }

  get size(): number {
    return this.#workers.length;
  }

  /** The photo's `size` x `size` frame (centre square, nearest), or undefined: decode it with
   * sharp. Never rejects. `reuse`, a frame from this pool the caller is done with, is decoded
   * into instead of a fresh buffer (in a worker, a fresh 150 KB frame a photo cost more in page
   * faults than the decoding); it is detached here and must not be touched again. */
  decode(path: string, size: number, reuse?: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.unavailable || this.#closed) return Promise.resolve(undefined);
    const worker = this.#load.indexOf(Math.min(...this.#load));
    const id = this.#next++;
    this.#load[worker]++;
    const frame = new Promise<Uint8Array | undefined>((resolve) => {
      this.#pending.set(id, { worker, resolve });
    });
    // Only a frame that is its whole buffer: transferring a view would take the rest with it.
    const whole = reuse?.buffer instanceof ArrayBuffer &&
      reuse.byteOffset === 0 && reuse.byteLength === reuse.buffer.byteLength;
    const into = whole ? reuse : undefined;
    const transfer = into ? [into.buffer as ArrayBuffer] : [];
    this.#workers[worker].postMessage({ id, path, size, into } satisfies DecodeJob, transfer);
    return frame;
  }

  #settle(id: number, frame?: Uint8Array) {
    const waiter = this.#pending.get(id);
    if (!waiter) return;
    this.#pending.delete(id);
    this.#load[waiter.worker]--;
    this.counts[frame ? "decoded" : "handedBack"]++;
    waiter.resolve(frame);
  }

  #stop(reason?: string) {
    if (reason) this.unavailable ??= reason;
    for (const id of [...this.#pending.keys()]) this.#settle(id);
  }

  close(): void {
    this.#closed = true;
    this.#stop();
    for (const worker of this.#workers) worker.terminate();
  }
}
