/**
 * ONNX Runtime, the native engine for forward passes whose weights do not change while they run:
 * the frozen trunk over augmented batches, validation, predictions, and the stage 2-3 step. On a
 * CPU it runs the network about 2.5 times as fast as tfjs' WebAssembly (AVX2 and AVX-512 kernels
 * where wasm has 128-bit SIMD), level with PyTorch 2.13 (`bench/RESULTS.md`). tfjs keeps the model definition, the training steps
 * and the browser export; the graphs ONNX Runtime runs are written from the model's own weights
 * (`lib/model/onnx.ts`).
 *
 * `npm:onnxruntime-node` ships its native library inside the package (Linux, macOS, Windows); it
 * is loaded on first use, and where it cannot load, everything runs on tfjs and the backend
 * notice says why. `DOGS_ENGINE=onnxruntime|tfjs` forces a choice.
 *
 * Two facts shape its use: `session.run` blocks the calling thread's event loop for the whole
 * pass (so the trunk workers each run their own session on one thread, beside their augmentation),
 * and sessions hold native memory until released (each owner releases its own).
 *
 * Its Linux build (1.30) carries upstream's telemetry: loaded as it is, it keeps a device id and a
 * queue of events to upload under `~/.cache/Microsoft/DeveloperTools/.onnxruntime/`, and opens
 * `/tmp/mat-debug-<pid>.log` (create, truncate, following symlinks: another local user who plants
 * a link at a coming pid's name has a run truncate any file it can write). Upstream's opt-out,
 * `ORT_DISABLE_TELEMETRY=1` in the environment before the library loads, stops all of it (checked
 * with strace: neither the folder nor the file is opened). This module is the only place the
 * library loads, in the main thread and in every worker, so it sets the opt-out here; a user who
 * sets `ORT_DISABLE_TELEMETRY` themselves (`0` opts in) is left as they chose.
 */
import type * as Ort from "onnxruntime-node";

let loaded: Promise<typeof Ort> | undefined;

/** The onnxruntime-node module (loaded once); rejects with the reason it cannot load. */
export function onnxRuntime(): Promise<typeof Ort> {
  if (!loaded) {
    optOutOfTelemetry();
    // A computed specifier: a process that never asks for it never loads the native library.
    loaded = import(["onnxruntime-node"][0]).then((m) => (m.default ?? m) as typeof Ort);
  }
  return loaded;
}

/** The variable upstream reads when its environment starts (see the module's comment). */
export const TELEMETRY_OPT_OUT = "ORT_DISABLE_TELEMETRY";

/** Sets upstream's telemetry opt-out, unless the user set the variable (a worker shares the
 * process's environment, so the first thread to load the library decides for all). */
function optOutOfTelemetry(): void {
  if (Deno.env.get(TELEMETRY_OPT_OUT) === undefined) Deno.env.set(TELEMETRY_OPT_OUT, "1");
}

/** A loaded ONNX graph: one input `x`, outputs `y0`, `y1`, ... */
export class OnnxSession {
  readonly #session: Ort.InferenceSession;
  readonly #ort: typeof Ort;
  #released = false;

  private constructor(ort: typeof Ort, session: Ort.InferenceSession) {
    this.#ort = ort;
    this.#session = session;
  }

  /** A session on `threads` threads (the calling thread among them). Its threads sleep between
   * operations unless `spin`: the training step, ~150 small operations one after another, ran
   * ~10% faster with them spinning, and spinning stops when each run returns (without that stop,
   * the step's spinning threads slowed the trunk's session that ran next on the same cores 1.5x). */
  static async create(
    model: Uint8Array,
    threads: number,
    options: { spin?: boolean } = {},
  ): Promise<OnnxSession> {
    const ort = await onnxRuntime();
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: Math.max(1, threads),
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      extra: {
        session: {
          intra_op: { allow_spinning: options.spin ? "1" : "0" },
          force_spinning_stop: "1",
        },
      },
    });
    return new OnnxSession(ort, session);
  }

  /** The graph's outputs for a batch `x` of the given shape (batch first), in output order; run
   * `chunk` photos at a time when given (each output batch first, so the parts are joined). */
  async run(x: Float32Array, shape: number[], chunk = Infinity): Promise<Float32Array[]> {
    const [n, ...photo] = shape;
    if (n <= chunk) return await this.#runOnce(x, shape);
    const size = x.length / n;
    const parts: Float32Array[][] = [];
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      parts.push(await this.#runOnce(x.subarray(s * size, (s + m) * size), [m, ...photo]));
    }
    return parts[0].map((_, o) => {
      const joined = new Float32Array(parts.reduce((sum, part) => sum + part[o].length, 0));
      let at = 0;
      for (const part of parts) {
        joined.set(part[o], at);
        at += part[o].length;
      }
      return joined;
    });
  }

  async #runOnce(x: Float32Array, shape: number[]): Promise<Float32Array[]> {
    if (this.#released) throw new Error("ONNX session used after release");
    const input = new this.#ort.Tensor("float32", x, shape);
    const results = await this.#session.run({ x: input });
    return this.#session.outputNames.map((name) => {
      const tensor = results[name];
      // A copy that owns its memory: the tensor's may be the native library's.
      const values = new Float32Array(tensor.data as Float32Array);
      tensor.dispose();
      return values;
    });
  }

  /** The named outputs for named inputs (a graph with several inputs). */
  async runNamed(
    feeds: Record<string, { data: Float32Array; dims: number[] }>,
  ): Promise<Record<string, Float32Array>> {
    if (this.#released) throw new Error("ONNX session used after release");
    const inputs: Record<string, Ort.Tensor> = {};
    for (const [name, { data, dims }] of Object.entries(feeds)) {
      inputs[name] = new this.#ort.Tensor("float32", data, dims);
    }
    const results = await this.#session.run(inputs);
    const out: Record<string, Float32Array> = {};
    for (const name of this.#session.outputNames) {
      out[name] = new Float32Array(results[name].data as Float32Array);
      results[name].dispose();
    }
    return out;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.#session.release();
  }
}

/** The version of the onnxruntime-node package that loaded. */
export async function onnxRuntimeVersion(): Promise<string> {
  const ort = await onnxRuntime();
  return (ort as unknown as { env?: { versions?: { node?: string; common?: string } } }).env
    ?.versions?.node ?? "unknown";
}
