/**
 * The gradient kernels tfjs' WebAssembly backend lacks, so that unfrozen convolution blocks can
 * train on it (it is ~10x faster than the pure-JS backend for forward passes, but stops at the
 * first backward convolution). Each is composed from kernels wasm does have — XNNPACK matmul,
 * depthwise convolution, slices — never from JS loops:
 *
 * - Conv2DBackpropFilter: per kernel tap (i, j), one matmul `x_ij[N*H*W, Cin]^T @ dy[N*H*W, Cout]`
 *   of the shifted (and strided) input with dy — a 1x1 convolution is a single matmul.
 * - DepthwiseConv2dNativeBackpropFilter: one depthwise convolution of the input (batch moved into
 *   the channels) with dy as the filter, dilated by the stride; then a sum over the batch.
 * - DepthwiseConv2dNativeBackpropInput: a depthwise convolution of the padded dy (zeros spread
 *   between its values for a stride > 1) with the filter turned 180 degrees.
 *
 * One kernel wasm has is replaced where it is slow: Conv2DBackpropInput of a 1x1 stride-1
 * convolution (most of MobileNet's and Xception's convolutions) is the matmul `dy @ W^T`, several
 * times faster than wasm's direct loop; other shapes still go to wasm's own kernel.
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

/** Runs `compute` (tfjs ops on tensor views of the inputs) as a wasm kernel. */
function asKernel(compute: Compute): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
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

function register(kernelName: string, compute: Compute): void {
  if (tf.getKernel(kernelName, "wasm")) return;
  tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc: asKernel(compute) });
}

const OVERRIDDEN = Symbol.for("dogs.overridden");

/** Puts `compute` in front of wasm's own kernel for the inputs where `applies` holds. */
function override(
  kernelName: string,
  applies: (inputs: Record<string, tf.TensorInfo>, attrs: Attrs) => boolean,
  compute: Compute,
): void {
  const original = tf.getKernel(kernelName, "wasm");
  if (!original || OVERRIDDEN in original.kernelFunc) return;
  const fast = asKernel(compute);
  const kernelFunc: tf.KernelFunc = (args) =>
    applies(args.inputs as Record<string, tf.TensorInfo>, args.attrs as unknown as Attrs)
      ? fast(args)
      : original.kernelFunc(args);
  Object.defineProperty(kernelFunc, OVERRIDDEN, { value: true });
  tf.unregisterKernel(kernelName, "wasm");
  tf.registerKernel({ ...original, kernelFunc });
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
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    throw new Error("wasm DepthwiseConv2dNativeBackpropFilter: only dilation 1 is implemented");
  }
  // dW[i, j, c] = sum over (n, h, w) of xp[n, s*h + i, s*w + j, c] * dy[n, h, w, c]: a depthwise
  // correlation of each (n, c) image with its own dy, dilated by the stride. With batch moved
  // into the channels ([1, H, W, N*C]) it is one depthwise convolution, then a sum over n.
  const [n, h, w] = dy.shape;
  const xp = padded(x, info);
  const [, hp, wp] = xp.shape;
  const image = tf.reshape(tf.transpose(xp, [1, 2, 0, 3]), [1, hp, wp, n * c]);
  const kernel = tf.reshape(tf.transpose(dy, [1, 2, 0, 3]), [h, w, n * c, 1]);
  const corr = tf.depthwiseConv2d(
    image as tf.Tensor4D,
    kernel as tf.Tensor4D,
    1,
    "valid",
    "NHWC",
    [info.strideHeight, info.strideWidth],
  );
  const taps = tf.slice(corr, [0, 0, 0, 0], [1, kh, kw, n * c]);
  return tf.reshape(tf.sum(tf.reshape(taps, [kh, kw, n, c]), 2), filterShape);
});

register("DepthwiseConv2dNativeBackpropInput", ({ dy, filter }, attrs) => {
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = convInfo(inputShape, filter.shape, attrs, true);
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    throw new Error("wasm DepthwiseConv2dNativeBackpropInput: only dilation 1 is implemented");
  }
  const [kh, kw] = filter.shape;
  const { top, left } = info.padInfo;
  const [, h, w] = inputShape;
  const [sh, sw] = [info.strideHeight, info.strideWidth];
  // A strided convolution's dy spreads to every s-th input position: put s-1 zeros between its
  // values, then it is the stride-1 case.
  let spread = dy as tf.Tensor4D;
  const [n, oh, ow, c] = dy.shape;
  const [dh, dw] = [(oh - 1) * sh + 1, (ow - 1) * sw + 1];
  if (sh !== 1 || sw !== 1) {
    const holes = tf.pad(tf.reshape(dy, [n, oh, 1, ow, 1, c]), [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    spread = tf.slice(tf.reshape(holes, [n, oh * sh, ow * sw, c]) as tf.Tensor4D, 0, [
      n,
      dh,
      dw,
      c,
    ]);
  }
  const [bottom, right] = [h - dh + top, w - dw + left];
  if (bottom < 0 || right < 0) {
    throw new Error(
      `wasm DepthwiseConv2dNativeBackpropInput: unexpected padding for ${inputShape}`,
    );
  }
  const dyp = tf.pad(spread, [[0, 0], [kh - 1 - top, bottom], [kw - 1 - left, right], [0, 0]]);
  const rotated = tf.reverse(filter as tf.Tensor4D, [0, 1]);
  return tf.depthwiseConv2d(dyp, rotated as tf.Tensor4D, 1, "valid");
});

override(
  "Conv2DBackpropInput",
  ({ filter }, attrs) => {
    const [kh, kw] = filter.shape;
    const [sh, sw] = typeof attrs.strides === "number"
      ? [attrs.strides, attrs.strides]
      : attrs.strides as number[];
    return kh === 1 && kw === 1 && sh === 1 && sw === 1 && attrs.dataFormat !== "NCHW";
  },
  ({ dy, filter }, attrs) => {
    const [, , cin, cout] = filter.shape;
    const w = tf.transpose(tf.reshape(filter, [cin, cout]));
    return tf.reshape(tf.matMul(tf.reshape(dy, [-1, cout]), w), attrs.inputShape as number[]);
  },
);
