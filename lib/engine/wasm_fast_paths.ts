/**
 * Fast paths for tfjs WebAssembly kernels that are slow for the inputs training produces. XNNPACK
 * does the arithmetic fast; what costs is the data movement around it: a scalar transpose loop
 * before a reduction, and the repacking of a matmul's right operand on every call (a fresh
 * gradient is never in XNNPACK's cache).
 *
 * - Sum and Mean over axes followed by kept ones (every bias, BatchNorm and pooling gradient of an
 *   NHWC network: a sum over N, H, W per channel). wasm reduces only innermost axes and first
 *   transposes the whole input for others: 13 ms for a [32, 7, 7, 1280] per-channel sum. As one
 *   XNNPACK average pooling of a [kept, reduced, 1, kept] image with a [reduced, 1] window: 0.8 ms.
 *   (A product with a row of ones is as slow as the transpose: it repacks the gradient.)
 * - BatchMatMul with a transposed operand (every Dense gradient: `x^T dy`, `dy W^T`). wasm's
 *   transposed paths are 5-20x slower than an explicit transpose followed by a plain product, and
 *   the plain product is cheapest with the smaller operand on the right, where it gets packed:
 *   `A B = (B^T A^T)^T`. 2.4 ms -> 0.55 ms for a [32, 1280]^T [32, 64] weight gradient.
 *
 * Registered by `initBackend` (`lib/engine/tf.ts`); registering again changes nothing.
 */
import * as tf from "@tensorflow/tfjs";
import { type Attrs, override } from "./wasm_kernel.ts";

const reducible = (inputs: Record<string, tf.TensorInfo>, attrs: Attrs) =>
  inputs.x.dtype === "float32" && split(inputs.x.shape, attrs) !== undefined;

/** [before, reduced, after] sizes when the axes are one contiguous run followed by kept axes. */
function split(shape: number[], attrs: Attrs): [number, number, number] | undefined {
  const rank = shape.length;
  const raw = attrs.axis as number | number[] | null | undefined;
  const axes = (raw == null ? shape.map((_, i) => i) : Array.isArray(raw) ? raw : [raw])
    .map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
  if (axes.length === 0) return undefined;
  const first = axes[0];
  const last = axes.at(-1)!;
  // Innermost reductions are already fast in wasm; only a run followed by kept axes is slow.
  if (last === rank - 1 || last - first + 1 !== axes.length) return undefined;
  const size = (from: number, to: number) => shape.slice(from, to).reduce((a, b) => a * b, 1);
  return [size(0, first), size(first, last + 1), size(last + 1, rank)];
}

function outputShape(shape: number[], attrs: Attrs): number[] {
  const rank = shape.length;
  const raw = attrs.axis as number | number[];
  const axes = new Set((Array.isArray(raw) ? raw : [raw]).map((a) => (a < 0 ? a + rank : a)));
  return attrs.keepDims
    ? shape.map((d, i) => (axes.has(i) ? 1 : d))
    : shape.filter((_, i) => !axes.has(i));
}

function meanByPooling(x: tf.Tensor, attrs: Attrs): tf.Tensor {
  const [before, reduced, after] = split(x.shape, attrs)!;
  const image = tf.reshape(x, [before, reduced, 1, after]) as tf.Tensor4D;
  return tf.reshape(tf.avgPool(image, [reduced, 1], 1, "valid"), outputShape(x.shape, attrs));
}

/** A @ B for [..., m, k] x [..., k, n] (transposes given), with explicit transposes only. */
function matMulExplicit(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean) {
  const t = (x: tf.Tensor) => {
    const perm = x.shape.map((_, i) => i);
    [perm[x.rank - 2], perm[x.rank - 1]] = [x.rank - 1, x.rank - 2];
    return tf.transpose(x, perm);
  };
  const m = a.shape[a.rank - (transposeA ? 1 : 2)];
  const n = b.shape[b.rank - (transposeB ? 2 : 1)];
  // The right operand is packed: keep the smaller one there.
  if (n > m) return t(tf.matMul(transposeB ? b : t(b), transposeA ? a : t(a)));
  return tf.matMul(transposeA ? t(a) : a, transposeB ? t(b) : b);
}

/** Puts the fast paths in front of wasm's kernels (idempotent); called by `initBackend`. */
export function registerFastPaths(): void {
  override(
    "BatchMatMul",
    (inputs, attrs) =>
      inputs.a.dtype === "float32" && inputs.b.dtype === "float32" &&
      Boolean(attrs.transposeA || attrs.transposeB),
    ({ a, b }, attrs) => matMulExplicit(a, b, Boolean(attrs.transposeA), Boolean(attrs.transposeB)),
  );

  override("Sum", reducible, ({ x }, attrs) => {
    const [, reduced] = split(x.shape, attrs)!;
    return tf.mul(meanByPooling(x, attrs), reduced);
  });

  override("Mean", reducible, ({ x }, attrs) => meanByPooling(x, attrs));
}
