/**
 * Multi-threaded WebAssembly for tfjs under Deno.
 *
 * tfjs ships a threaded SIMD build of its wasm backend (XNNPACK on an emscripten pthread pool) but
 * never uses it outside a browser: `WASM_HAS_MULTITHREAD_SUPPORT` is false whenever tfjs believes
 * it runs under Node, and Deno counts as Node. Four things stand in the way, and this module
 * handles each without touching the installed package:
 *
 * 1. tfjs creates the pthread workers from a `Blob` URL, which `node:worker_threads` (what the
 *    emscripten glue uses under Node) rejects. Here the glue is loaded directly and given file
 *    paths: the main script is the glue's own file; the worker script is written to a folder
 *    made for this process alone (mode 0700, a fresh random name), loaded from there, and the
 *    folder removed once the pool has started. A fixed name in the shared temp folder would let
 *    another local user plant or swap the file between a check and the load, and run their code
 *    inside this process with all its permissions.
 * 2. The worker shim of emscripten 3.1.28 (tfjs 4.22) assigns `location`, a getter-only global in
 *    a Deno worker, and the worker dies; the assignment is dropped.
 * 3. The same shim replaces the global `postMessage` with a call to `parentPort.postMessage`;
 *    where `parentPort` is the global object (Deno releases affected by deno#17171), that call
 *    recurses. The shim binds the real function first, which is right either way.
 * 4. The C++ side halves `emscripten_num_logical_cores()` (`os.cpus()` under Node) to skip
 *    hyper-threads and caps the pool there, so 2 cores would give 1 thread. While the module
 *    loads and the backend is created, `os.cpus()` reports twice the threads asked for.
 *
 * The glue also replaces the global `Worker` with Node's while it starts its pool (restored here,
 * or the project's own module workers would break), and keeps the process alive through its
 * running pthreads (they are unref'd: the pool waits on shared memory, not on messages).
 *
 * Only XNNPACK-backed kernels (matmul, convolutions, depthwise convolutions, ...) use the pool;
 * elementwise kernels stay on the calling thread. Results match one thread within float
 * rounding (tested). Anything unexpected throws, and `lib/engine/tf.ts` falls back to one thread with
 * the reason in its notice.
 */
import * as tf from "@tensorflow/tfjs";
import * as wasmBackend from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import os from "node:os";

const GLUE = "@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js";
const WORKER = "@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js";
const START_TIMEOUT_MS = 60_000;

/** Edits to the emscripten worker shim; each must match exactly once. */
const SHIM_EDITS: { why: string; find: string; replace: string }[] = [
  {
    why: "location is a getter-only global in Deno",
    find: "location:{href:__filename},",
    replace: "",
  },
  {
    why: "parentPort may be the global object: bind the real postMessage",
    find: "postMessage:function(msg){parentPort.postMessage(msg)},",
    replace:
      "postMessage:(function(send){return function(msg){send(msg)}})(parentPort.postMessage.bind(parentPort)),",
  },
];

interface EmscriptenWorker {
  unref(): void;
  terminate(): void;
  onerror: ((error: unknown) => void) | null;
}

interface ThreadedModule {
  PThread: {
    unusedWorkers: EmscriptenWorker[];
    runningWorkers: EmscriptenWorker[];
    loadWasmModuleToWorker(worker: EmscriptenWorker, onLoaded?: unknown): void;
  };
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => number;
  tfjs?: Record<string, unknown>;
}

interface Registration {
  factory: () => tf.KernelBackend | Promise<tf.KernelBackend>;
  priority: number;
}

/** What started: the thread count XNNPACK really uses. */
export interface ThreadedWasm {
  threads: number;
}

let started: ThreadedWasm | undefined;

/**
 * Makes tfjs' `wasm` backend the threaded build with `threads` threads (the calling thread is
 * one of them; at most the size of the pre-started pool, 8 for tfjs 4.22) and switches to it. Throws, leaving the single-threaded backend registered, when
 * this runtime cannot run it. Call before any other use of the wasm backend.
 */
export async function startThreadedWasm(threads: number): Promise<ThreadedWasm> {
  if (started) return started;
  if (!Number.isInteger(threads) || threads < 2) throw new Error(`threads must be >= 2`);
  if (typeof SharedArrayBuffer === "undefined") throw new Error("no SharedArrayBuffer");
  const require = createRequire(import.meta.url);
  const gluePath: string = require.resolve(GLUE);
  // XNNPACK's pool blocks the main thread while its threads start, so they must come from the
  // workers emscripten starts up front (a worker started later would need the blocked event loop).
  const poolSize = Number(/pthreadPoolSize=(\d+)/.exec(await Deno.readTextFile(gluePath))?.[1]);
  if (!(poolSize >= 1)) throw new Error("unrecognised emscripten glue (no pthread pool size)");
  // (9 threads ask 8 workers of a pool of 8, yet only 8 start: keep to the pool's size.)
  threads = Math.min(threads, poolSize);
  const worker = await writeWorkerScript(require(WORKER).wasmWorkerContents);

  const registry = (tf.engine() as unknown as { registryFactory: Record<string, Registration> })
    .registryFactory;
  const original = registry["wasm"];
  const savedWorker = globalThis.Worker;
  const cpus = os.cpus;
  let module: ThreadedModule | undefined;
  try {
    // The C++ side reads the core count in its static initialisers, as the module loads.
    (os as { cpus: () => os.CpuInfo[] }).cpus = () =>
      Array.from({ length: 2 * threads }, () => cpus()[0]);
    module = await loadGlue(require(gluePath), gluePath, worker.path);
    const instance = module;
    wasmBackend.setThreadsCount(threads);
    const backend = new wasmBackend.BackendWasm(instance as never);
    (os as { cpus: () => os.CpuInfo[] }).cpus = cpus;
    tf.removeBackend("wasm");
    tf.registerBackend("wasm", () => backend, original?.priority ?? 2);
    if (!(await tf.setBackend("wasm"))) throw new Error("tfjs could not set the threaded backend");
    await tf.ready();
    // Idle pool workers are never needed again (the thread pool is made); running ones must not
    // keep the process alive.
    for (const w of instance.PThread.unusedWorkers) w.terminate();
    instance.PThread.unusedWorkers.length = 0;
    for (const w of instance.PThread.runningWorkers) w.unref();
    started = { threads: wasmBackend.getThreadsCount() };
    return started;
  } catch (error) {
    for (
      const w of [...module?.PThread.unusedWorkers ?? [], ...module?.PThread.runningWorkers ?? []]
    ) {
      w.terminate();
    }
    if (original) {
      if (registry["wasm"]) tf.removeBackend("wasm");
      tf.registerBackend("wasm", original.factory, original.priority);
    }
    throw error;
  } finally {
    (os as { cpus: () => os.CpuInfo[] }).cpus = cpus;
    globalThis.Worker = savedWorker;
    // Every pool worker has read its script by now (no worker starts later, see above).
    await worker.remove();
  }
}

/** The patched worker shim, in a folder only this process's user can enter. */
export async function writeWorkerScript(
  contents: string,
): Promise<{ path: string; remove(): Promise<void> }> {
  // tfjs ships the shim inside a template literal, where "\n" in its strings became newlines.
  let shim = contents.replace(/\n/g, "\\n");
  for (const edit of SHIM_EDITS) {
    const count = shim.split(edit.find).length - 1;
    if (count !== 1) {
      throw new Error(`unrecognised emscripten worker shim (${edit.why}: ${count} matches)`);
    }
    shim = shim.replace(edit.find, edit.replace);
  }
  // mkdtemp: a new folder, never an existing one, created with mode 0700.
  const dir = await Deno.makeTempDir({ prefix: "tfjs-wasm-threads-" });
  const path = `${dir}/worker.cjs`;
  await Deno.writeTextFile(path, shim, { createNew: true, mode: 0o600 });
  return { path, remove: () => Deno.remove(dir, { recursive: true }).catch(() => {}) };
}

/** Runs the emscripten factory; a worker that fails to load rejects instead of crashing. */
function loadGlue(
  factory: (config: Record<string, unknown>) => Promise<ThreadedModule>,
  gluePath: string,
  workerPath: string,
): Promise<ThreadedModule> {
  const wasmPath = gluePath.replace(/\.js$/, ".wasm");
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the pthread pool did not start in ${START_TIMEOUT_MS / 1000} s`)),
      START_TIMEOUT_MS,
    );
    const config: Record<string, unknown> = {
      locateFile: (path: string, prefix: string) =>
        path.endsWith(".worker.js")
          ? workerPath
          : path.endsWith(".wasm")
          ? wasmPath
          : prefix + path,
      mainScriptUrlOrBlob: gluePath,
      onAbort: (what: unknown) => reject(new Error(`wasm aborted: ${what}`)),
    };
    const ready = factory(config);
    // The factory filled `config` synchronously; hook each worker's error before it loads.
    const pthread = (config as unknown as ThreadedModule).PThread;
    const load = pthread.loadWasmModuleToWorker;
    pthread.loadWasmModuleToWorker = (worker, onLoaded) => {
      load.call(pthread, worker, onLoaded);
      worker.onerror = (error) => reject(new Error(`a pthread worker failed: ${describe(error)}`));
    };
    ready.then((module) => {
      module.tfjs = {
        init: module.cwrap("init", null, []),
        initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
        getThreadsCount: module.cwrap("get_threads_count", "number", []),
        registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
        disposeData: module.cwrap("dispose_data", null, ["number"]),
        dispose: module.cwrap("dispose", null, []),
      };
      resolve(module);
    }, reject).finally(() => clearTimeout(timer));
  });
}

function describe(error: unknown): string {
  const message = (error as { message?: string })?.message ?? String(error);
  return message.split("\n")[0].slice(0, 200);
}
