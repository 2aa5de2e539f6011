/**
 * The one place TensorFlow.js is imported. It picks the fastest backend this machine really has
 * and says so in one line: native TensorFlow (`tfjs-node-gpu`, then `tfjs-node`) where the user
 * installed it, WebGPU where Deno offers a hardware adapter, else WebAssembly, else pure JS.
 * `TFJS_BACKEND=node-gpu|node|webgpu|wasm|cpu` forces a choice (and fails loudly if it can't).
 *
 * WebAssembly runs multi-threaded (`lib/engine/wasm_threads.ts`): `TFJS_THREADS=N` sets the thread count
 * (default: every core; 1 = tfjs' own single-threaded path). If threads cannot start, it runs on
 * one thread and the notice says why.
 */
import * as tf from "@tensorflow/tfjs";
import { registerGradients } from "./gradients.ts";
import { registerFastPaths } from "./wasm_fast_paths.ts";
import { registerWasmGradients } from "./wasm_gradients.ts";
import { adapterInUse, tryWebGpu } from "./webgpu.ts";
import { onnxRuntimeVersion } from "./onnx.ts";
import {
  type BackendRequest,
  engineFromEnv,
  type EngineRequest,
  requestFromEnv,
  threadsFromEnv,
} from "./env.ts";
import util from "node:util";
import { UsageError } from "../errors.ts";

export { tf };

/**
 * A tensor's values, read asynchronously, and the tensor disposed. Every read of the project's
 * training and prediction goes through here: tfjs' WebGPU backend has no synchronous read under
 * Deno (its `dataSync` draws through an OffscreenCanvas, which Deno lacks), and on wasm or cpu
 * the asynchronous read costs nothing more.
 */
export async function readValues(tensor: tf.Tensor): Promise<Float32Array> {
  try {
    return await tensor.data() as Float32Array;
  } finally {
    tensor.dispose();
  }
}

export { BACKEND_REQUESTS, type BackendRequest } from "./env.ts";

export interface BackendChoice {
  /** What was asked for (option or TFJS_BACKEND). */
  requested: BackendRequest;
  /** Name under which tfjs knows the backend now running (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  backend: string;
  /** Which candidate provided it (`node-gpu`, `node`, `webgpu`, `wasm`, `cpu`). */
  via: Exclude<BackendRequest, "auto">;
  /** wasm: threads XNNPACK computes on, the calling thread included (1 for the other backends,
   * which manage their own). */
  threads: number;
  /** Why wasm runs on fewer threads than asked, if it does. */
  threadsNote?: string;
  /** Candidates tried before it, with why each was not used. */
  skipped: { candidate: string; reason: string }[];
  /** What runs forward passes whose weights stay fixed (trunk caching, validation,
   * predictions): ONNX Runtime where it loads and tfjs runs on wasm or cpu, else tfjs itself. */
  engine: "onnxruntime" | "tfjs";
  /** Threads a forward pass of the main thread runs on (ONNX Runtime: every core, as wasm). */
  engineThreads: number;
  /** The one-line notice printed at start-up. */
  message: string;
}

type Candidate = Exclude<BackendRequest, "auto">;
const ORDER: readonly Candidate[] = ["node-gpu", "node", "webgpu", "wasm", "cpu"];

let current: Promise<BackendChoice> | undefined;

/**
 * Selects and initialises the backend once per process (later calls return the same choice).
 * `quiet` suppresses the notice line, e.g. in tests that print their own.
 */
export function initBackend(
  options: {
    request?: BackendRequest;
    quiet?: boolean;
    threads?: number;
    engine?: EngineRequest;
  } = {},
): Promise<BackendChoice> {
  if (!current) {
    // Read only by the first call: later calls get the backend already chosen.
    wasmThreads = options.threads ?? threadsFromEnv();
    current = select(options.request ?? requestFromEnv())
      .then((choice) => withEngine(choice, options.engine ?? engineFromEnv()))
      .then((choice) => {
        if (!options.quiet) console.error(choice.message);
        return choice;
      });
  }
  return current;
}

/**
 * The forward engine beside the backend, and the notice saying both. Automatically ONNX Runtime
 * where tfjs would run on WebAssembly or pure JS (it is 2.5x wasm); a native tfjs backend (CUDA,
 * TensorFlow, a hardware WebGPU) keeps its own forward passes.
 */
async function withEngine(choice: BackendChoice, request: EngineRequest): Promise<BackendChoice> {
  const { engine, note } = await chooseEngine(request, choice.via, onnxRuntimeVersion);
  // As many threads as wasm asked for, never more than the cores (ONNX Runtime spins its own).
  const engineThreads = Math.max(1, Math.min(wasmThreads, navigator.hardwareConcurrency || 1));
  return { ...choice, engine, engineThreads, message: `${choice.message}; ${note}` };
}

/** The forward engine for a request and a tfjs backend; `load` loads ONNX Runtime and gives its
 * version (or rejects with why it cannot). */
export async function chooseEngine(
  request: EngineRequest,
  via: BackendChoice["via"],
  load: () => Promise<string>,
): Promise<{ engine: BackendChoice["engine"]; note: string }> {
  if (request === "tfjs") {
    return { engine: "tfjs", note: "forward passes on tfjs (DOGS_ENGINE=tfjs)" };
  }
  if (request === "auto" && !["wasm", "cpu"].includes(via)) {
    return { engine: "tfjs", note: `forward passes on tfjs (beside its ${via} backend)` };
  }
  try {
    return { engine: "onnxruntime", note: `forward passes on ONNX Runtime ${await load()}` };
  } catch (error) {
    const reason = (error as Error).message.split("\n")[0].slice(0, 160);
    if (request === "onnxruntime") {
      throw new UsageError(`DOGS_ENGINE=onnxruntime, but ONNX Runtime cannot load: ${reason}`);
    }
    return { engine: "tfjs", note: `forward passes on tfjs (ONNX Runtime cannot load: ${reason})` };
  }
}

let wasmThreads = 1;
let threadsNote: string | undefined;

/** What was asked for by name, if anything (a forced WebGPU takes a software adapter too). */
let forcedRequest: BackendRequest = "auto";

async function select(requested: BackendRequest): Promise<BackendChoice> {
  forcedRequest = requested;
  await registerKernels();
  // tfjs would print a multi-line "install tfjs-node" banner under Node/Deno; our notice says it.
  tf.env().set("PROD", true);
  const candidates = requested === "auto" ? ORDER : [requested];
  const skipped: { candidate: string; reason: string }[] = [];
  for (const candidate of candidates) {
    const reason = await TRY[candidate]();
    if (reason === undefined) {
      const backend = tf.getBackend();
      const threads = candidate === "wasm" ? wasmThreadsNow() : 1;
      const note = candidate === "wasm" ? threadsNote : undefined;
      return {
        requested,
        backend,
        via: candidate,
        threads,
        threadsNote: note,
        skipped,
        engine: "tfjs",
        engineThreads: 1,
        message: notice(candidate, skipped, threads, note),
      };
    }
    skipped.push({ candidate, reason });
  }
  // A backend asked for by name that cannot start is the user's to change.
  if (requested !== "auto") throw new UsageError(`TFJS_BACKEND=${requested}: ${skipped[0].reason}`);
  const why = skipped.map((s) => `${s.candidate}: ${s.reason}`).join("; ");
  throw new Error(`no TensorFlow.js backend could start (${why})`);
}

function wasmThreadsNow(): number {
  const wasm = tf.backend() as unknown as { wasm?: { tfjs?: { getThreadsCount(): number } } };
  return wasm.wasm?.tfjs?.getThreadsCount() ?? 1;
}

function notice(
  via: Candidate,
  skipped: { candidate: string; reason: string }[],
  threads: number,
  note: string | undefined,
): string {
  const label: Record<Candidate, string> = {
    "node-gpu": "native TensorFlow with CUDA (tfjs-node-gpu)",
    node: "native TensorFlow on the CPU (tfjs-node)",
    webgpu: "WebGPU (tfjs-backend-webgpu)",
    wasm: "WebAssembly (tfjs-backend-wasm)",
    cpu: "pure JavaScript (tfjs-backend-cpu)",
  };
  const told = skipped.filter((s) => worthSaying(s));
  const others = told.length
    ? ` — not ${told.map((s) => `${s.candidate} (${s.reason})`).join(", ")}`
    : "";
  const count = via === "wasm"
    ? `, ${threads} thread${threads === 1 ? "" : "s"}${note ? ` (${note})` : ""}`
    : via === "webgpu"
    ? ` on ${adapterInUse()}`
    : "";
  return `[tfjs] backend: ${label[via]}${count}${others}`;
}

/**
 * Whether the notice names a candidate that did not start: one that is installed but failed, or
 * the CUDA build on a machine with an NVIDIA GPU (the one hint that pays). An optional package
 * not installed, or no GPU, is the usual case, and every line would say it (all of them are in
 * `BackendChoice.skipped`).
 */
export function worthSaying(
  s: { candidate: string; reason: string },
  gpu = nvidiaGpuPresent(),
): boolean {
  if (s.candidate === "webgpu") return !/^no GPU device|^only a software adapter/.test(s.reason);
  if (/^native binding not installed/.test(s.reason)) return s.candidate === "node-gpu" && gpu;
  return true;
}

/** An NVIDIA driver's device node: CUDA would run here. */
function nvidiaGpuPresent(): boolean {
  try {
    Deno.statSync("/dev/nvidiactl");
    return true;
  } catch {
    return false;
  }
}

const TRY: Record<Candidate, () => Promise<string | undefined>> = {
  "node-gpu": () => tryNative("@tensorflow/tfjs-node-gpu", "setup:gpu"),
  node: () => tryNative("@tensorflow/tfjs-node", "setup:native"),
  webgpu: () => tryWebGpu(forcedRequest === "webgpu", trySet),
  wasm: tryWasm,
  cpu: () => trySet("cpu"),
};

/** Imports a tfjs-node flavour; its native binding only exists after its install script ran. */
async function tryNative(specifier: string, setupTask: string): Promise<string | undefined> {
  // tfjs-node 4.22 calls util.isNullOrUndefined, which newer Node APIs (and Deno) removed.
  const u = util as unknown as Record<string, unknown>;
  u.isNullOrUndefined ??= (value: unknown) => value === null || value === undefined;
  try {
    // A computed specifier keeps the optional package out of the static module graph.
    await import([specifier][0]);
  } catch (error) {
    const text = String((error as Error).message ?? error);
    if (/tfjs_binding\.node|native addon/i.test(text)) {
      return `native binding not installed (\`deno task ${setupTask}\`)`;
    }
    return `cannot load: ${text.split("\n")[0].slice(0, 160)}`;
  }
  if (!tf.findBackend("tensorflow")) return "loaded, but registered on another copy of tfjs";
  return trySet("tensorflow");
}

/** The threaded build when more than one thread is asked for; one thread if it cannot start. */
async function tryWasm(): Promise<string | undefined> {
  threadsNote = undefined;
  if (wasmThreads > 1) {
    try {
      const { startThreadedWasm } = await import("./wasm_threads.ts");
      const { threads } = await startThreadedWasm(wasmThreads);
      if (threads < wasmThreads) threadsNote = `${wasmThreads} asked, at most ${threads} start`;
      return undefined;
    } catch (error) {
      threadsNote = `threads unavailable: ${(error as Error).message.split("\n")[0]}`;
    }
  }
  return trySet("wasm");
}

/**
 * What the project adds to tfjs, registered here and nowhere else (importing a module of the
 * project registers nothing): the WebAssembly backend, the wasm kernels tfjs lacks or runs slowly
 * (they need the backend's own kernels in place first), and two cheaper gradients.
 */
async function registerKernels(): Promise<void> {
  await import("@tensorflow/tfjs-backend-wasm");
  registerWasmGradients();
  registerFastPaths();
  registerGradients();
}

async function trySet(name: string): Promise<string | undefined> {
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return "failed to initialise";
    await tf.ready();
    return undefined;
  } catch (error) {
    return `failed to initialise: ${(error as Error).message.split("\n")[0]}`;
  }
}
