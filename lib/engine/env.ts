/**
 * What the environment asks of the engine: `TFJS_BACKEND`, `TFJS_THREADS`, `DOGS_ENGINE`. Apart
 * from tf.ts and onnx.ts so that a command checks them (`checkEnvironment`) without loading
 * TensorFlow.js or ONNX Runtime.
 */
import { envChoice, envInteger } from "../env.ts";

export type BackendRequest = "auto" | "node-gpu" | "node" | "webgpu" | "wasm" | "cpu";
export const BACKEND_REQUESTS: readonly BackendRequest[] = [
  "auto",
  "node-gpu",
  "node",
  "webgpu",
  "wasm",
  "cpu",
];

export type EngineRequest = "auto" | "onnxruntime" | "tfjs";
export const ENGINE_REQUESTS: readonly EngineRequest[] = ["auto", "onnxruntime", "tfjs"];

/** What `TFJS_BACKEND` asks for (default auto). */
export function requestFromEnv(): BackendRequest {
  return envChoice("TFJS_BACKEND", BACKEND_REQUESTS, "auto");
}

/** The wasm thread count asked for: `TFJS_THREADS`, else every core. */
export function threadsFromEnv(): number {
  return envInteger("TFJS_THREADS", { min: 1, max: 1024 }, navigator.hardwareConcurrency || 1);
}

/** What `DOGS_ENGINE` asks for (default auto). */
export function engineFromEnv(): EngineRequest {
  return envChoice("DOGS_ENGINE", ENGINE_REQUESTS, "auto");
}
