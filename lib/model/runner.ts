/**
 * Forward passes through a part of the network on whichever engine runs them: tfjs (any backend)
 * or ONNX Runtime (`lib/engine/onnx.ts`), behind one interface: a batch of floats in, each
 * output's floats out. Callers (trunk caching, validation, predictions) do not know which.
 */
import { readValues, tf } from "../engine/tf.ts";
import { OnnxSession } from "../engine/onnx.ts";
import { applyPart, outputShapeOf, type Part } from "./inference.ts";
import { type OnnxOptions, toOnnx } from "./onnx.ts";

export interface BatchRunner {
  /** Which engine runs it, for notices and tests. */
  engine: "onnxruntime" | "tfjs";
  /** One input sample's shape, e.g. [224, 224, 3] or [7, 7, 56]. */
  inputShape: number[];
  /** One output sample's shape, per output. */
  outputShapes: number[][];
  /** The outputs of a batch of `n` samples (row-major, batch first). */
  run(x: Float32Array, n: number): Promise<Float32Array[]>;
  /** Frees what the runner holds (native sessions, folded weights). */
  dispose(): Promise<void>;
}

/**
 * `parts` chained, as one ONNX Runtime session on `threads` threads. Written from the weights the
 * parts hold now.
 *
 * @example
 * ```ts
 * const runner = await onnxRunner([trunk], { threads: 2 });
 * const [activations] = await runner.run(images, 32);
 * await runner.dispose();
 * ```
 */
export async function onnxRunner(
  parts: tf.LayersModel[],
  options: OnnxOptions & { threads: number },
): Promise<BatchRunner> {
  const session = await OnnxSession.create(await toOnnx(parts, options), options.threads);
  const last = parts.at(-1)!;
  const shapes = last.outputs.map((o) => (o.shape as number[]).slice(1));
  const outputShapes = (options.outputs ?? shapes.map((_, i) => i)).map((i) => shapes[i]);
  const inputShape = (parts[0].inputs[0].shape as number[]).slice(1);
  return {
    engine: "onnxruntime",
    inputShape,
    outputShapes,
    run: (x, n) => session.run(x, [n, ...inputShape]),
    dispose: () => session.release(),
  };
}

/** A tfjs part (layers or a folded model) as a runner with one output. */
export function tfjsRunner(part: Part, inputShape: number[]): BatchRunner {
  return {
    engine: "tfjs",
    inputShape,
    outputShapes: [outputShapeOf(part)],
    run: async (x, n) => [
      await readValues(tf.tidy(() => applyPart(part, tf.tensor(x, [n, ...inputShape])))),
    ],
    dispose: () => Promise.resolve(),
  };
}

/** Runs `runner` over `n` samples of `x` in chunks; returns its first output for all of them. */
export async function runInChunks(
  runner: BatchRunner,
  x: Float32Array,
  n: number,
  chunk = 64,
  onProgress?: (done: number, total: number) => void,
): Promise<Float32Array[]> {
  const inSize = runner.inputShape.reduce((a, b) => a * b, 1);
  const outSizes = runner.outputShapes.map((s) => s.reduce((a, b) => a * b, 1));
  const outputs = outSizes.map((size) => new Float32Array(n * size));
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    const results = await runner.run(x.subarray(start * inSize, (start + m) * inSize), m);
    results.forEach((r, i) => outputs[i].set(r, start * outSizes[i]));
    onProgress?.(start + m, n);
  }
  return outputs;
}
