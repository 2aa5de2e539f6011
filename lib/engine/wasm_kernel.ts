/**
 * Helpers to add or replace kernels of tfjs' WebAssembly backend with compositions of its own
 * kernels (`wasm_gradients.ts`, `wasm_fast_paths.ts`). A composed kernel runs tfjs ops on tensor
 * views of its inputs and hands back a fresh output, so the engine sees one kernel.
 */
import * as tf from "@tensorflow/tfjs";

export type Attrs = Record<string, unknown>;
export type Compute = (inputs: Record<string, tf.Tensor>, attrs: Attrs) => tf.Tensor;

interface WasmBackend {
  incRef(dataId: unknown): void;
  makeOutput(
    shape: number[],
    dtype: tf.DataType,
    memoryOffset?: number,
    values?: Float32Array,
  ): tf.TensorInfo;
}

/** How many times each of the project's kernels ran, by kernel name: tests check that the kernel
 * they compare is the one that ran, not tfjs' own. */
export const kernelRuns = new Map<string, number>();

/** Runs `compute` (tfjs ops on tensor views of the inputs) as a wasm kernel. */
function asKernel(kernelName: string, compute: Compute): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    kernelRuns.set(kernelName, (kernelRuns.get(kernelName) ?? 0) + 1);
    const engine = tf.engine();
    const wrapped: Record<string, tf.Tensor> = {};
    for (const [name, info] of Object.entries(inputs)) {
      // A tensor view of the input; `makeTensorFromTensorInfo` does not take a reference of its
      // own, so take one, or disposing the view would free the caller's data.
      wrapped[name] = engine.makeTensorFromTensorInfo(info as tf.TensorInfo);
      (backend as unknown as WasmBackend).incRef((info as tf.TensorInfo).dataId);
    }
    try {
      const result = tf.tidy(() => compute(wrapped, attrs as unknown as Attrs));
      try {
        // The result must be a fresh output of this kernel, not a tensor the engine tracks.
        return (backend as unknown as WasmBackend).makeOutput(
          result.shape,
          "float32",
          undefined,
          result.dataSync() as Float32Array,
        );
      } finally {
        result.dispose();
      }
    } finally {
      tf.dispose(Object.values(wrapped));
    }
  };
}

export function register(kernelName: string, compute: Compute): void {
  if (tf.getKernel(kernelName, "wasm")) return;
  tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc: asKernel(kernelName, compute) });
}

const OVERRIDDEN = Symbol.for("dogs.overridden");

/** Puts `compute` in front of wasm's own kernel for the inputs where `applies` holds. */
export function override(
  kernelName: string,
  applies: (inputs: Record<string, tf.TensorInfo>, attrs: Attrs) => boolean,
  compute: Compute,
): void {
  const original = tf.getKernel(kernelName, "wasm");
  if (!original || OVERRIDDEN in original.kernelFunc) return;
  const fast = asKernel(kernelName, compute);
  const kernelFunc: tf.KernelFunc = (args) =>
    applies(args.inputs as Record<string, tf.TensorInfo>, args.attrs as unknown as Attrs)
      ? fast(args)
      : original.kernelFunc(args);
  Object.defineProperty(kernelFunc, OVERRIDDEN, { value: true });
  tf.unregisterKernel(kernelName, "wasm");
  tf.registerKernel({ ...original, kernelFunc });
}
