/**
 * The project's networks written as ONNX graphs, so that ONNX Runtime (`lib/engine/onnx.ts`) can
 * run their forward passes natively: a frozen trunk for the cached activations, the top and the
 * heads for validation, the whole model for predictions.
 *
 * The graph is written from the model's own layers, through the same folding as `fold.ts`: each
 * BatchNorm folded into the convolution before it, the ReLU or ReLU6 after it applied in place
 * (`Relu`, `Clip`), Keras' ZeroPadding2D before a stride-2 convolution turned into that
 * convolution's `pads`. Tensors stay channels-last (NHWC) at the graph's edges, as tfjs holds them;
 * inside, images are NCHW, the layout ONNX convolutions take (one `Transpose` at each edge).
 * Weights come from the model at the moment the graph is written: write again after training.
 *
 * Both backbones are covered (MobileNetV2's convolutions, depthwise convolutions, residual adds;
 * Xception's separable convolutions and max pooling) and the seed's heads (dense layers, GLU,
 * softmax). A layer it does not know is an error naming it.
 */
import { tf } from "../engine/tf.ts";
import { type FoldOp, foldPlan } from "./fold.ts";
import { OnnxGraph as Graph } from "./onnx_graph.ts";

/** A value of the graph: its name, and one sample's shape as tfjs sees it (NHWC or [features]). */
interface Value {
  name: string;
  shape: number[];
}

const className = (layer: tf.layers.Layer) => layer.getClassName();
const config = (layer: tf.layers.Layer) => layer.getConfig() as Record<string, unknown>;
const pair = (v: unknown): [number, number] =>
  Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number];

async function values(tensor: tf.Tensor): Promise<Float32Array> {
  return await tensor.data() as Float32Array;
}

/** A weight's values in another axis order. */
async function transposed(tensor: tf.Tensor, perm: number[]): Promise<Float32Array> {
  const t = tf.transpose(tensor, perm);
  try {
    return await values(t);
  } finally {
    t.dispose();
  }
}

/** tfjs' "same" padding of one spatial axis: the extra pixel goes after, as in TensorFlow. */
function samePads(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** ONNX `pads` ([top, left, bottom, right]) of a convolution or pooling window. */
function windowPads(
  pad: "same" | "valid" | number[][],
  shape: number[],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number] = [1, 1],
): number[] {
  if (pad === "valid") return [0, 0, 0, 0];
  if (pad === "same") {
    const [top, bottom] = samePads(shape[0], kernel[0], strides[0], dilations[0]);
    const [left, right] = samePads(shape[1], kernel[1], strides[1], dilations[1]);
    return [top, left, bottom, right];
  }
  return [pad[1][0], pad[2][0], pad[1][1], pad[2][1]];
}

/** Output size of a window along one axis. */
function windowOut(size: number, kernel: number, stride: number, before: number, after: number) {
  return Math.floor((size + before + after - kernel) / stride) + 1;
}

type ConvOp = Extract<FoldOp, { kind: "conv" | "depthwise" | "separable" }>;

/** A folded convolution (BatchNorm in its weights) and its activation, on an NCHW value. */
async function convolution(g: Graph, op: ConvOp, input: Value): Promise<Value> {
  const { filter, pointwise, bias } = op.weights();
  const [kh, kw, inChannels, depth] = filter.shape;
  const pads = windowPads(op.pad as "same", op.inputShape, [kh, kw], op.strides, op.dilations);
  const common = { kernel_shape: [kh, kw], strides: op.strides, dilations: op.dilations, pads };
  let x: string;
  let channels: number;
  if (op.kind === "conv") {
    // [kh, kw, in, out] -> [out, in, kh, kw]
    const w = g.weight("kernel", await transposed(filter, [3, 2, 0, 1]), [
      depth,
      inChannels,
      kh,
      kw,
    ]);
    channels = depth;
    const b = bias ? [g.weight("bias", await values(bias), [channels])] : [];
    x = g.node("Conv", [input.name, w, ...b], common);
  } else {
    // Depthwise [kh, kw, in, multiplier] -> [in * multiplier, 1, kh, kw], one group per channel.
    const w = g.weight("depthwise", await transposed(filter, [2, 3, 0, 1]), [
      inChannels * depth,
      1,
      kh,
      kw,
    ]);
    channels = inChannels * depth;
    if (op.kind === "depthwise") {
      const b = bias ? [g.weight("bias", await values(bias), [channels])] : [];
      x = g.node("Conv", [input.name, w, ...b], { ...common, group: inChannels });
    } else {
      const depthwise = g.node("Conv", [input.name, w], { ...common, group: inChannels });
      const [, , , out] = pointwise!.shape;
      const p = g.weight("pointwise", await transposed(pointwise!, [3, 2, 0, 1]), [
        out,
        channels,
        1,
        1,
      ]);
      channels = out;
      const b = bias ? [g.weight("bias", await values(bias), [channels])] : [];
      x = g.node("Conv", [depthwise, p, ...b], { kernel_shape: [1, 1] });
    }
  }
  const kernel = [kh, kw];
  const [h, w] = [0, 1].map((axis) =>
    windowOut(
      op.inputShape[axis],
      (kernel[axis] - 1) * op.dilations[axis] + 1,
      op.strides[axis],
      pads[axis],
      pads[axis + 2],
    )
  );
  return { name: activate(g, x, op.activation), shape: [h, w, channels] };
}

/** Relu, ReLU6 (Clip) or nothing. */
function activate(g: Graph, x: string, activation: string): string {
  if (activation === "relu") return g.node("Relu", [x]);
  if (activation === "relu6") {
    const low = g.weight("zero", new Float32Array([0]), []);
    const high = g.weight("six", new Float32Array([6]), []);
    return g.node("Clip", [x, low, high]);
  }
  if (activation === "sigmoid") return g.node("Sigmoid", [x]);
  if (activation === "softmax") return g.node("Softmax", [x], { axis: -1 });
  if (activation === "linear" || activation === undefined) return x;
  throw new Error(`onnx: activation '${activation}' is not written`);
}

/** Any other layer, on NCHW (images) or [n, features] values. */
async function layer(
  g: Graph,
  op: Extract<FoldOp, { kind: "layer" }>,
  inputs: Value[],
): Promise<Value> {
  const l = op.layer;
  const c = config(l);
  const [x] = inputs;
  switch (className(l)) {
    case "Add":
      return {
        name: inputs.slice(1).reduce((sum, v) => g.node("Add", [sum, v.name]), x.name),
        shape: x.shape,
      };
    case "Multiply":
      return {
        name: inputs.slice(1).reduce((product, v) => g.node("Mul", [product, v.name]), x.name),
        shape: x.shape,
      };
    case "ReLU": {
      const max = c.maxValue as number | null | undefined;
      if ((c.threshold ?? 0) !== 0 || (max != null && max !== 6)) break;
      return { name: activate(g, x.name, max === 6 ? "relu6" : "relu"), shape: x.shape };
    }
    case "Activation":
      return { name: activate(g, x.name, c.activation as string), shape: x.shape };
    case "GlobalAveragePooling2D": {
      const pooled = g.node("GlobalAveragePool", [x.name]);
      return { name: g.node("Flatten", [pooled], { axis: 1 }), shape: [x.shape[2]] };
    }
    case "MaxPooling2D": {
      const kernel = pair(c.poolSize);
      const strides = pair(c.strides ?? c.poolSize);
      const pads = windowPads(c.padding as "same", x.shape, kernel, strides);
      const [h, w] = [0, 1].map((a) =>
        windowOut(x.shape[a], kernel[a], strides[a], pads[a], pads[a + 2])
      );
      const pooled = g.node("MaxPool", [x.name], { kernel_shape: kernel, strides, pads });
      return { name: pooled, shape: [h, w, x.shape[2]] };
    }
    case "ZeroPadding2D": {
      const p = c.padding as [[number, number], [number, number]];
      const [[top, bottom], [left, right]] = p;
      const pads = g.integers("pads", [0, 0, top, left, 0, 0, bottom, right]);
      return {
        name: g.node("Pad", [x.name, pads]),
        shape: [x.shape[0] + top + bottom, x.shape[1] + left + right, x.shape[2]],
      };
    }
    case "BatchNormalization": {
      // Not after a convolution (nothing to fold into): its affine map per channel.
      const [gamma, beta, mean, variance] = ["gamma", "beta", "moving_mean", "moving_variance"]
        .map((suffix) => l.weights.find((w) => (w.originalName ?? w.name).endsWith(suffix)));
      const [scale, shift] = tf.tidy(() => {
        const s = (gamma?.read() ?? tf.onesLike(mean!.read())).div(
          variance!.read().add(c.epsilon as number).sqrt(),
        );
        return [s, (beta?.read() ?? tf.zerosLike(s)).sub(mean!.read().mul(s))];
      });
      const dims = x.shape.length === 3 ? [x.shape[2], 1, 1] : [x.shape[0]];
      const scaled = g.node("Mul", [x.name, g.weight("scale", await values(scale), dims)]);
      const out = g.node("Add", [scaled, g.weight("shift", await values(shift), dims)]);
      tf.dispose([scale, shift]);
      return { name: out, shape: x.shape };
    }
    case "Dense": {
      const [kernel, bias] = l.getWeights();
      const k = g.weight(`${l.name}_kernel`, await values(kernel), kernel.shape);
      let y = g.node("MatMul", [x.name, k]);
      if (bias) y = g.node("Add", [y, g.weight(`${l.name}_bias`, await values(bias), bias.shape)]);
      return { name: activate(g, y, c.activation as string), shape: [kernel.shape[1]!] };
    }
    case "InputLayer":
      return x;
  }
  throw new Error(`onnx: layer ${l.name} (${className(l)}) is not written`);
}

/** Appends a model's graph, its input being `input`; returns its outputs. */
async function appendModel(g: Graph, model: tf.LayersModel, input: Value): Promise<Value[]> {
  const plan = foldPlan(model);
  try {
    const slots: Value[] = [];
    for (const op of plan.ops) {
      if (op.kind === "input") slots[op.out] = input;
      else if (op.kind === "layer") {
        slots[op.out] = await layer(g, op, op.inputs.map((i) => slots[i]));
      } else slots[op.out] = await convolution(g, op, slots[op.input]);
    }
    return plan.outputs.map((o) => slots[o]);
  } finally {
    plan.dispose();
  }
}

export interface OnnxOptions {
  /** Which outputs of the last part the graph gives (default: all). */
  outputs?: number[];
  /** Each output through a softmax (logits to probabilities). */
  softmax?: boolean;
  /** Images come in planar, NCHW (the trunk workers write them so): no transpose at the input,
   * which took 8% of the trunk's time. */
  planarInput?: boolean;
  /** Each image also mirrored left to right, and each output averaged over the two (flip
   * test-time augmentation, as `predictPhotos` does it: after the softmax). */
  flip?: boolean;
  /** The two outputs (probabilities) blended into one: `alpha * y0 + (1 - alpha) * y1`. */
  blend?: number;
  /** Each output as its natural log: probabilities given as logits, which a softmax (what
   * transformers.js applies to `logits`) turns back into the same probabilities. */
  log?: boolean;
  /** The graph's input and output names (default `x`, and `y0`, `y1`, ...). */
  names?: { input?: string; outputs?: string[] };
}

/**
 * One ONNX model (bytes ONNX Runtime loads) running `parts` one after the other: each part's
 * single output is the next one's input. The graph's input `x` and its outputs `y0`, `y1`, ...
 * have a free batch axis; images are NHWC as in tfjs.
 *
 * @example
 * ```ts
 * const { trunk } = splitBackbone(backbone);
 * const bytes = await toOnnx([trunk]);
 * ```
 */
export async function toOnnx(
  parts: tf.LayersModel[],
  options: OnnxOptions = {},
): Promise<Uint8Array> {
  const g = new Graph();
  const inputShape = (parts[0].inputs[0].shape as number[]).slice(1);
  const planar = options.planarInput && inputShape.length === 3;
  const [h, w, c] = inputShape;
  const input = options.names?.input ?? "x";
  g.input(input, ["batch", ...(planar ? [c, h, w] : inputShape)]);
  let current: Value = { name: input, shape: inputShape };
  if (inputShape.length === 3 && !planar) {
    current = { ...current, name: g.node("Transpose", [input], { perm: [0, 3, 1, 2] }) };
  }
  if (options.flip) {
    if (inputShape.length !== 3) throw new Error("onnx: flip needs images at the input");
    // The batch and its mirror images (NCHW: the last axis is the width) as one batch of 2n.
    const mirror = g.node("Slice", [
      current.name,
      g.integers("starts", [-1]),
      g.integers("ends", [-(w + 1)]),
      g.integers("axes", [3]),
      g.integers("steps", [-1]),
    ]);
    current = { ...current, name: g.node("Concat", [current.name, mirror], { axis: 0 }) };
  }
  let outputs: Value[] = [];
  for (const [i, part] of parts.entries()) {
    outputs = await appendModel(g, part, current);
    if (i < parts.length - 1) {
      if (outputs.length !== 1) throw new Error(`onnx: ${part.name} must have one output`);
      current = outputs[0];
    }
  }
  let chosen = (options.outputs ?? outputs.map((_, i) => i)).map((i) => {
    const value = outputs[i];
    let name = value.name;
    if (options.softmax) name = g.node("Softmax", [name], { axis: -1 });
    if (options.flip) {
      // [2n, ...] as [2, n, ...], averaged over the first axis.
      const halves = g.node("Reshape", [name, g.integers("shape", [2, -1, ...value.shape])]);
      name = g.node("ReduceMean", [halves], { axes: [0], keepdims: 0 });
    }
    return { name, shape: value.shape };
  });
  if (options.blend !== undefined) {
    if (chosen.length !== 2) throw new Error("onnx: a blend takes two outputs");
    const [main, aux] = chosen;
    const a = g.node("Mul", [main.name, g.scalar(options.blend)]);
    const b = g.node("Mul", [aux.name, g.scalar(1 - options.blend)]);
    chosen = [{ name: g.node("Add", [a, b]), shape: main.shape }];
  }
  chosen.forEach((value, i) => {
    let name = value.name;
    if (options.log) name = g.node("Log", [name]);
    if (value.shape.length === 3) name = g.node("Transpose", [name], { perm: [0, 2, 3, 1] });
    g.output(name, options.names?.outputs?.[i] ?? `y${i}`, ["batch", ...value.shape]);
  });
  return g.encode(parts.map((p) => p.name).join("+"));
}
