/**
 * The gradient kernels tfjs' WebAssembly backend lacks, so that unfrozen convolution blocks can
 * train on it (it is ~10x faster than the pure-JS backend for forward passes, but stops at the
 * first backward convolution). Each is composed from kernels wasm does have — XNNPACK matmul,
 * depthwise convolution, slices — never from JS loops:
 *
 * - Conv2DBackpropFilter: per kernel tap (i, j), one matmul `x_ij[N*H*W, Cin]^T @ dy[N*H*W, Cout]`
 *   of the shifted (and strided) input with dy (or its transpose, whichever packs less) — a 1x1
 *   convolution is a single matmul.
 * - DepthwiseConv2dNativeBackpropFilter: one depthwise convolution of the input (batch moved into
 *   the channels) with dy as the filter, dilated by the stride; then a sum over the batch.
 * - DepthwiseConv2dNativeBackpropInput: a depthwise convolution of the padded dy (zeros spread
 *   between its values for a stride > 1) with the filter turned 180 degrees.
 *
 * One kernel wasm has is replaced where it is slow: Conv2DBackpropInput of a 1x1 stride-1
 * convolution (most of MobileNet's and Xception's convolutions) is the matmul `dy @ W^T`, several
 * times faster than wasm's direct loop; other shapes still go to wasm's own kernel.
 *
 * Registered by `initBackend` (`lib/engine/tf.ts`); registering again changes nothing.
 */
import * as tf from "@tensorflow/tfjs";
import { type Attrs, override, register } from "./wasm_kernel.ts";

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

/** Registers the missing wasm gradient kernels and the faster one (idempotent); called by
 * `initBackend`. */
export function registerWasmGradients(): void {
  register("Conv2DBackpropFilter", ({ x, dy }, attrs) => {
    const filterShape = attrs.filterShape as [number, number, number, number];
    const info = convInfo(x.shape, filterShape, attrs, false);
    const [kh, kw, cin, cout] = filterShape;
    const dy2 = tf.reshape(dy, [-1, cout]);
    const xp = padded(x, info);
    // XNNPACK repacks a matmul's right operand on every call (a fresh gradient is never in its
    // cache), which costs more than the explicit transpose of the left one (matMul's own
    // transposeA path is far slower still). So the larger of x and dy goes on the left, transposed:
    // dW = x^T dy when dy is narrower, else dW^T = dy^T x (2x faster for MobileNet's expansions).
    const dyOnLeft = cout > cin;
    const dyT = dyOnLeft ? tf.transpose(dy2) : undefined;
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const xTap = tf.reshape(tap(xp, info, i, j), [-1, cin]);
        taps.push(dyT ? tf.matMul(dyT, xTap) : tf.matMul(tf.transpose(xTap), dy2));
      }
    }
    const stacked = taps.length === 1 ? taps[0] : tf.stack(taps);
    // dy-on-left taps are [cout, cin]: turn them to [cin, cout].
    const ordered = dyOnLeft
      ? tf.transpose(stacked, taps.length === 1 ? [1, 0] : [0, 2, 1])
      : stacked;
    return tf.reshape(ordered, filterShape);
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
}
