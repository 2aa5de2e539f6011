/**
 * The gradient kernels tfjs' WebAssembly backend lacks, so that unfrozen convolution blocks can
 * train on it (it is ~10x faster than the pure-JS backend for forward passes, but stops at the
 * first backward convolution). Each is composed from kernels wasm does have — XNNPACK matmul,
 * depthwise convolution, slices — never from JS loops:
 *
 * - Conv2DBackpropFilter: per kernel tap (i, j), one matmul `x_ij[N*H*W, Cin]^T @ dy[N*H*W, Cout]`
 *   of the shifted (and strided) input with dy — a 1x1 convolution is a single matmul.
 * - DepthwiseConv2dNativeBackpropFilter: for each of the kh*kw taps, the shifted input times dy,
 *   summed over batch and space.
 * - DepthwiseConv2dNativeBackpropInput (stride 1): a depthwise convolution of the padded dy with
 *   the filter turned 180 degrees.
 *
 * Imported once by `lib/tf.ts`; registering is idempotent.
 */
import * as tf from "@tensorflow/tfjs";

type Attrs = Record<string, unknown>;
type Compute = (inputs: Record<string, tf.Tensor>, attrs: Attrs) => tf.Tensor;

interface WasmBackend {
  incRef(dataId: unknown): void;
  makeOutput(
    shape: number[],
    dtype: tf.DataType,
    memoryOffset?: number,
    values?: Float32Array,
  ): tf.TensorInfo;
}

function register(kernelName: string, compute: Compute): void {
  if (tf.getKernel(kernelName, "wasm")) return;
  tf.registerKernel({
    kernelName,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
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
    },
  });
}

function convInfo(xShape: number[], filterShape: number[], attrs: Attrs, depthwise: boolean) {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    (attrs.dilations ?? 1) as number,
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor" | undefined,
    depthwise,
  );
}

function padded(x: tf.Tensor, info: ReturnType<typeof convInfo>): tf.Tensor4D {
  const { top, bottom, left, right } = info.padInfo;
  if (!top && !bottom && !left && !right) return x as tf.Tensor4D;
  return tf.pad(x as tf.Tensor4D, [[0, 0], [top, bottom], [left, right], [0, 0]]);
}

/** Input patches at tap (i, j) of the padded input, aligned with dy. */
function tap(
  xp: tf.Tensor4D,
  info: ReturnType<typeof convInfo>,
  i: number,
  j: number,
): tf.Tensor4D {
  const {
    batchSize: n,
    outHeight: h,
    outWidth: w,
    inChannels: c,
    strideHeight: sh,
    strideWidth: sw,
  } = info;
  const [di, dj] = [i * info.dilationHeight, j * info.dilationWidth];
  if (sh === 1 && sw === 1) return tf.slice(xp, [0, di, dj, 0], [n, h, w, c]);
  return tf.stridedSlice(xp, [0, di, dj, 0], [n, di + (h - 1) * sh + 1, dj + (w - 1) * sw + 1, c], [
    1,
    sh,
    sw,
    1,
  ]) as tf.Tensor4D;
}

register("Conv2DBackpropFilter", ({ x, dy }, attrs) => {
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = convInfo(x.shape, filterShape, attrs, false);
  const [kh, kw, cin, cout] = filterShape;
  const dy2 = tf.reshape(dy, [-1, cout]);
  const xp = padded(x, info);
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      // An explicit transpose: matMul's transposeA path is several times slower on wasm.
      taps.push(tf.matMul(tf.transpose(tf.reshape(tap(xp, info, i, j), [-1, cin])), dy2));
    }
  }
  return tf.reshape(taps.length === 1 ? taps[0] : tf.stack(taps), filterShape);
});

register("DepthwiseConv2dNativeBackpropFilter", ({ x, dy }, attrs) => {
  const filterShape = attrs.filterShape as [number, number, number, number];
  const [kh, kw, c, multiplier] = filterShape;
  if (multiplier !== 1) {
    throw new Error("wasm DepthwiseConv2dNativeBackpropFilter: channel multiplier must be 1");
  }
  const info = convInfo(x.shape, filterShape, attrs, true);
  const xp = padded(x, info);
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) taps.push(tf.sum(tf.mul(tap(xp, info, i, j), dy), [0, 1, 2]));
  }
  return tf.reshape(tf.stack(taps), [kh, kw, c, 1]);
});

register("DepthwiseConv2dNativeBackpropInput", ({ dy, filter }, attrs) => {
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = convInfo(inputShape, filter.shape, attrs, true);
  if (
    info.strideHeight !== 1 || info.strideWidth !== 1 || info.dilationHeight !== 1 ||
    info.dilationWidth !== 1
  ) {
    throw new Error(
      "wasm DepthwiseConv2dNativeBackpropInput: only stride 1, dilation 1 is implemented",
    );
  }
  const [kh, kw] = filter.shape;
  const { top, left } = info.padInfo;
  const [, h, w] = inputShape;
  const dyp = tf.pad(dy as tf.Tensor4D, [
    [0, 0],
    [kh - 1 - top, h - info.outHeight + top],
    [kw - 1 - left, w - info.outWidth + left],
    [0, 0],
  ]);
  const rotated = tf.reverse(filter as tf.Tensor4D, [0, 1]);
  return tf.depthwiseConv2d(dyp, rotated as tf.Tensor4D, 1, "valid");
});
