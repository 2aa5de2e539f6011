/**
 * The one place TensorFlow.js is imported. It picks the fastest backend this machine really has
 * and says so in one line: native TensorFlow (`tfjs-node-gpu`, then `tfjs-node`) where the user
 * installed it, WebGPU where Deno offers a hardware adapter, else WebAssembly, else pure JS.
 * `TFJS_BACKEND=node-gpu|node|webgpu|wasm|cpu` forces a choice (and fails loudly if it can't).
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "./wasm_gradients.ts";
import "./gradients.ts";
import util from "node:util";

export { tf };

export type BackendRequest = "auto" | "node-gpu" | "node" | "webgpu" | "wasm" | "cpu";
export const BACKEND_REQUESTS: readonly BackendRequest[] = [
  "auto",
  "node-gpu",
  "node",
  "webgpu",
  "wasm",
  "cpu",
];

export interface BackendChoice {
  /** What was asked for (option or TFJS_BACKEND). */
  requested: BackendRequest;
  /** Name under which tfjs knows the backend now running (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  backend: string;
  /** Which candidate provided it (`node-gpu`, `node`, `webgpu`, `wasm`, `cpu`). */
  via: Exclude<BackendRequest, "auto">;
  /** Candidates tried before it, with why each was not used. */
  skipped: { candidate: string; reason: string }[];
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
  options: { request?: BackendRequest; quiet?: boolean } = {},
): Promise<BackendChoice> {
  current ??= select(options.request ?? requestFromEnv()).then((choice) => {
    if (!options.quiet) console.error(choice.message);
    return choice;
  });
  return current;
}

function requestFromEnv(): BackendRequest {
  const value = (Deno.env.get("TFJS_BACKEND") ?? "auto").toLowerCase() as BackendRequest;
  if (!BACKEND_REQUESTS.includes(value)) {
    throw new Error(`TFJS_BACKEND='${value}' is not one of ${BACKEND_REQUESTS.join(", ")}`);
  }
  return value;
}

async function select(requested: BackendRequest): Promise<BackendChoice> {
  // tfjs would print a multi-line "install tfjs-node" banner under Node/Deno; our notice says it.
  tf.env().set("PROD", true);
  const candidates = requested === "auto" ? ORDER : [requested];
  const skipped: { candidate: string; reason: string }[] = [];
  for (const candidate of candidates) {
    const reason = await TRY[candidate]();
    if (reason === undefined) {
      const backend = tf.getBackend();
      return { requested, backend, via: candidate, skipped, message: notice(candidate, skipped) };
    }
    skipped.push({ candidate, reason });
  }
  const why = skipped.map((s) => `${s.candidate}: ${s.reason}`).join("; ");
  throw new Error(`no TensorFlow.js backend could start (${why})`);
}

function notice(via: Candidate, skipped: { candidate: string; reason: string }[]): string {
  const label: Record<Candidate, string> = {
    "node-gpu": "native TensorFlow with CUDA (tfjs-node-gpu)",
    node: "native TensorFlow on the CPU (tfjs-node)",
    webgpu: "WebGPU (tfjs-backend-webgpu)",
    wasm: "WebAssembly (tfjs-backend-wasm)",
    cpu: "pure JavaScript (tfjs-backend-cpu)",
  };
  const others = skipped.length
    ? ` — not ${skipped.map((s) => `${s.candidate} (${s.reason})`).join(", ")}`
    : "";
  return `[tfjs] backend: ${label[via]}${others}`;
}

const TRY: Record<Candidate, () => Promise<string | undefined>> = {
  "node-gpu": () => tryNative("@tensorflow/tfjs-node-gpu", "setup:gpu"),
  node: () => tryNative("@tensorflow/tfjs-node", "setup:native"),
  webgpu: tryWebGpu,
  wasm: () => trySet("wasm"),
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

async function tryWebGpu(): Promise<string | undefined> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return "Deno was started without --unstable-webgpu";
  const adapter = await gpu.requestAdapter().catch(() => null) as
    | { info?: { description?: string; vendor?: string; isFallbackAdapter?: boolean } }
    | null;
  if (!adapter) return "no adapter";
  const info = adapter.info ?? {};
  const description = `${info.vendor ?? ""} ${info.description ?? ""}`.trim();
  if (info.isFallbackAdapter || /llvmpipe|swiftshader|software/i.test(description)) {
    return `only a software adapter (${description || "fallback"})`;
  }
  try {
    await import(["@tensorflow/tfjs-backend-webgpu"][0]);
  } catch (error) {
    return `cannot load tfjs-backend-webgpu: ${(error as Error).message.split("\n")[0]}`;
  }
  return trySet("webgpu");
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
