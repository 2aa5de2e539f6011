/**
 * A part of a network compiled for speed: every BatchNormalization that follows a convolution is
 * folded into the convolution's weights and bias, and a ReLU/ReLU6 after it becomes the
 * convolution's fused activation. A conv-BN-ReLU6 triple in Keras is three kernels, two of them
 * full passes over large activation maps; folded it is one `fused.conv2d`, which the wasm backend
 * (XNNPACK) runs with bias and clamp in its output loop. A ZeroPadding2D before a 'valid'
 * convolution (Keras' stride-2 blocks) becomes the convolution's explicit padding: wasm's PadV2 is
 * a full copy, and XNNPACK pads inside the convolution for free.
 *
 * Two modes:
 * - `foldModel(model)`, for parts that stay frozen (the trunk, prediction): the folded weights are
 *   computed once; dispose() frees them.
 * - `foldModel(model, { trainable: true })`, for the unfrozen top: BatchNorm statistics are frozen
 *   (inference mode, as the project trains), so BatchNorm is still an affine map per channel and
 *   folds the same way, but the folded weights are recomputed from the live variables on every
 *   call, inside the gradient tape: `W' = W * s(gamma)`, `b' = (b - mean) * s + beta`. Gradients
 *   reach W, gamma and beta through those small weight-sized ops instead of through two extra
 *   passes over the activations. ReLU6 stays a separate op there (tfjs has no gradient for a fused
 *   ReLU6).
 *
 * Works on any functional LayersModel by walking its symbolic graph; layers it does not know run
 * as themselves.
 */
import { tf } from "../engine/tf.ts";
import { type InferenceModel, outputShapeOf } from "./inference.ts";

type SymbolicTensor = ReturnType<typeof tf.input>;
type Layer = tf.layers.Layer;
type Activation = "linear" | "relu" | "relu6";
type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];
type ConvKind = "conv" | "depthwise" | "separable";

interface ConvWeights {
  filter: tf.Tensor4D;
  pointwise?: tf.Tensor4D;
  bias?: tf.Tensor1D;
}

/** What a compiled model runs, step by step, on concrete tensors. */
export type FoldOp =
  | { kind: "input"; out: number; shape: number[] }
  | {
    kind: ConvKind;
    out: number;
    input: number;
    /** The folded weights: fixed tensors (frozen) or recomputed per call (trainable). */
    weights: () => ConvWeights;
    strides: [number, number];
    pad: "same" | "valid" | ExplicitPadding;
    dilations: [number, number];
    activation: Activation;
    /** One input sample's shape, [h, w, c] (before any padding this convolution absorbed). */
    inputShape: number[];
  }
  | { kind: "layer"; out: number; inputs: number[]; layer: Layer; inputShapes: number[][] };
type Op = FoldOp;

export interface FoldedModel extends InferenceModel {
  /** How many BatchNormalization layers were folded away (for reporting and tests). */
  folded: number;
  /** How many ZeroPadding2D layers became a convolution's own padding. */
  paddings: number;
  dispose(): void;
}

const className = (layer: Layer) => layer.getClassName();
const config = (layer: Layer) => layer.getConfig() as Record<string, unknown>;
const pair = (v: unknown): [number, number] =>
  Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number];
const CONVOLUTIONS: Record<string, ConvKind> = {
  Conv2D: "conv",
  DepthwiseConv2D: "depthwise",
  SeparableConv2D: "separable",
};

/** The activation a layer applies on its own, if it is nothing but an activation. */
function activationOf(layer: Layer): Activation | undefined {
  const c = config(layer);
  if (className(layer) === "ReLU") {
    const max = c.maxValue as number | null | undefined;
    if ((c.threshold ?? 0) !== 0) return undefined;
    return max == null ? "relu" : max === 6 ? "relu6" : undefined;
  }
  if (className(layer) === "Activation" && c.activation === "relu") return "relu";
  return undefined;
}

/** A channels-last convolution with no activation of its own: what folding handles. */
function foldableConv(layer: Layer): boolean {
  const c = config(layer);
  return className(layer) in CONVOLUTIONS && (c.activation ?? "linear") === "linear" &&
    c.dataFormat !== "channelsFirst";
}

/** The current value of a layer's variable (inside a tape, a differentiable read). */
function variable(layer: Layer, suffix: string): tf.Tensor | undefined {
  const v = layer.weights.find((w) => (w.originalName ?? w.name).endsWith(suffix));
  return v?.read();
}

/** Per-output-channel (scale, shift) of an inference-mode BatchNormalization. */
function bnAffine(layer: Layer): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
  const c = config(layer);
  const axis = c.axis as number | number[];
  if (
    !(axis === -1 || axis === 3 || (Array.isArray(axis) && axis.length === 1 && axis[0] === -1))
  ) {
    throw new Error(`fold: ${layer.name} normalizes axis ${axis}, only channels-last is folded`);
  }
  const mean = variable(layer, "moving_mean")!;
  const variance = variable(layer, "moving_variance")!;
  const gamma = variable(layer, "gamma") ?? tf.onesLike(mean);
  const beta = variable(layer, "beta") ?? tf.zerosLike(mean);
  const scale = gamma.div(variance.add(c.epsilon as number).sqrt()) as tf.Tensor1D;
  return { scale, shift: beta.sub(mean.mul(scale)) as tf.Tensor1D };
}

/** The convolution's weights with the BatchNorm after it (if any) folded in. */
function foldedWeights(layer: Layer, bn: Layer | undefined): ConvWeights {
  const kind = CONVOLUTIONS[className(layer)];
  let filter = variable(layer, kind === "separable" ? "depthwise_kernel" : "kernel") as tf.Tensor4D;
  let pointwise = kind === "separable"
    ? variable(layer, "pointwise_kernel") as tf.Tensor4D
    : undefined;
  let bias = variable(layer, "bias") as tf.Tensor1D | undefined;
  if (bn) {
    const { scale, shift } = bnAffine(bn);
    // The output channel is the last axis of a conv/pointwise kernel; a depthwise kernel
    // [h, w, in, multiplier] outputs channel in * multiplier + m.
    if (pointwise) pointwise = pointwise.mul(scale);
    else if (kind === "depthwise") {
      filter = filter.mul(scale.reshape([filter.shape[2], filter.shape[3]]));
    } else filter = filter.mul(scale);
    bias = (bias ? bias.mul(scale).add(shift) : shift) as tf.Tensor1D;
  }
  return { filter, pointwise, bias };
}

/** The symbolic graph in topological order, and the one consumer of a tensor if it has one. */
function graphOf(model: tf.LayersModel) {
  const order: SymbolicTensor[] = [];
  const consumers = new Map<number, SymbolicTensor[]>();
  const visit = (t: SymbolicTensor) => {
    if (consumers.has(t.id)) return;
    consumers.set(t.id, []);
    for (const i of t.inputs) {
      visit(i);
      consumers.get(i.id)!.push(t);
    }
    order.push(t);
  };
  for (const output of model.outputs) visit(output);
  const next = (t: SymbolicTensor) => {
    const users = consumers.get(t.id)!;
    return users.length === 1 ? users[0] : undefined;
  };
  return { order, next };
}

type Next = (t: SymbolicTensor) => SymbolicTensor | undefined;

/** The input and NHWC padding of a channels-last ZeroPadding2D read only by its consumer. */
function zeroPadding(
  t: SymbolicTensor,
  next: Next,
): { input: SymbolicTensor; pad: ExplicitPadding } | undefined {
  const layer = t.sourceLayer;
  if (className(layer) !== "ZeroPadding2D" || !next(t) || t.inputs.length !== 1) return undefined;
  const c = config(layer);
  if (c.dataFormat === "channelsFirst") return undefined;
  const p = c.padding as number | [number, number] | [[number, number], [number, number]];
  const [[top, bottom], [left, right]] = typeof p === "number"
    ? [[p, p], [p, p]]
    : typeof p[0] === "number"
    ? [[p[0], p[0]], [p[1] as number, p[1] as number]]
    : p as [[number, number], [number, number]];
  return { input: t.inputs[0], pad: [[0, 0], [top, bottom], [left, right], [0, 0]] };
}

/** The chain conv -> [BN] -> [activation], followed while each link has a single consumer. */
function convChain(t: SymbolicTensor, next: Next) {
  let last = t;
  let bn: Layer | undefined;
  let activation: Activation = "linear";
  const absorbed: number[] = [];
  const norm = next(last);
  if (norm && className(norm.sourceLayer) === "BatchNormalization") {
    bn = norm.sourceLayer;
    absorbed.push(norm.id);
    last = norm;
  }
  const after = next(last);
  const act = after && activationOf(after.sourceLayer);
  if (after && act) {
    activation = act;
    absorbed.push(after.id);
    last = after;
  }
  return { last, bn, activation, absorbed };
}

/** Runs one folded convolution. */
function runConv(op: Extract<Op, { kind: ConvKind }>, input: tf.Tensor4D, trainable: boolean) {
  const { filter, pointwise, bias } = op.weights();
  // tfjs has no gradient for a fused ReLU6: in trainable mode it is applied after.
  const split = trainable && op.activation === "relu6";
  const activation = split ? "linear" : op.activation;
  const common = { strides: op.strides, dilations: op.dilations };
  let y: tf.Tensor4D;
  if (op.kind === "conv") {
    y = tf.fused.conv2d({ x: input, filter, bias, activation, ...common, pad: op.pad });
  } else if (op.kind === "depthwise") {
    // Explicit padding works as for conv2d (computeConv2DInfo); only the type omits it.
    y = tf.fused.depthwiseConv2d({
      x: input,
      filter,
      bias,
      activation,
      ...common,
      pad: op.pad as "valid",
    });
  } else {
    const depth = tf.depthwiseConv2d(input, filter, op.strides, op.pad, "NHWC", op.dilations);
    y = tf.fused.conv2d({
      x: depth,
      filter: pointwise!,
      bias,
      activation,
      strides: 1,
      pad: "valid",
    });
  }
  return split ? tf.clipByValue(y, 0, 6) : y;
}

/** A convolution and the BatchNorm (and activation) folded into it, by layer. */
export interface FoldedChain {
  conv: Layer;
  bn?: Layer;
  activation?: Layer;
  /** The folded weights now: [kernel (or depthwise kernel), (pointwise,) bias]. */
  weights(): tf.Tensor[];
}

/** The conv -> BatchNorm (-> activation) chains of a model, for rebuilding it folded as layers
 * (the TF.js export). Each chain's weights are the same arithmetic as `foldModel`'s. */
export function foldChains(model: tf.LayersModel): FoldedChain[] {
  const { order, next } = graphOf(model);
  const chains: FoldedChain[] = [];
  for (const t of order) {
    if (t.inputs.length === 0 || !foldableConv(t.sourceLayer)) continue;
    const { last, bn } = convChain(t, next);
    if (!bn) continue;
    const conv = t.sourceLayer;
    const activation = last.sourceLayer === bn ? undefined : last.sourceLayer;
    chains.push({
      conv,
      bn,
      activation,
      weights: () =>
        tf.tidy(() => {
          const w = foldedWeights(conv, bn);
          return [w.filter, w.pointwise, w.bias!].filter((x) => x !== undefined)
            .map((x) => tf.keep(x.clone()));
        }),
    });
  }
  return chains;
}

/** Compiles `model` (channels-last, one input, one output); see the module comment for modes. */
export function foldModel(
  model: tf.LayersModel,
  options: { trainable?: boolean } = {},
): FoldedModel {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(`fold: ${model.name} must have one input and one output`);
  }
  const trainable = options.trainable ?? false;
  const { order, next } = graphOf(model);
  const paddings = foldablePaddings(order, next);
  const program = compile(order, next, paddings, trainable);
  const outSlot = program.slot.get(model.outputs[0].id)!;
  return {
    outputShape: outputShapeOf(model),
    folded: program.folded,
    paddings: paddings.size,
    predict: (x: tf.Tensor) => tf.tidy(() => run(program, x, trainable)[outSlot]),
    dispose: () => tf.dispose(program.kept),
  };
}

/** ZeroPadding2D layers whose only reader is a "valid" convolution: the padding moves into the
 * convolution (by the convolution's tensor id). */
function foldablePaddings(
  order: readonly SymbolicTensor[],
  next: Next,
): Map<number, { input: SymbolicTensor; pad: ExplicitPadding }> {
  const paddings = new Map<number, { input: SymbolicTensor; pad: ExplicitPadding }>();
  for (const t of order) {
    const padding = t.inputs.length === 1 ? zeroPadding(t.inputs[0], next) : undefined;
    if (padding && foldableConv(t.sourceLayer) && config(t.sourceLayer).padding === "valid") {
      paddings.set(t.id, padding);
    }
  }
  return paddings;
}

interface Program {
  ops: Op[];
  /** Folded weights owned by the program (frozen mode). */
  kept: tf.Tensor[];
  /** Symbolic tensor id -> the slot holding its value. */
  slot: Map<number, number>;
  folded: number;
}

/** The graph as a list of ops: convolution chains fused, everything else applied as a layer. */
function compile(
  order: readonly SymbolicTensor[],
  next: Next,
  paddings: Map<number, { input: SymbolicTensor; pad: ExplicitPadding }>,
  trainable: boolean,
): Program {
  // The padding layers' outputs are not computed: their convolutions pad instead.
  const absorbed = new Set(order.filter((t) => paddings.has(t.id)).map((t) => t.inputs[0].id));
  const program: Program = { ops: [], kept: [], slot: new Map(), folded: 0 };
  const { ops, slot } = program;
  for (const t of order) {
    if (absorbed.has(t.id)) continue;
    const layer = t.sourceLayer;
    const out = slot.size;
    if (t.inputs.length === 0) {
      slot.set(t.id, out);
      ops.push({ kind: "input", out, shape: sampleShape(t) });
      continue;
    }
    if (!foldableConv(layer)) {
      ops.push({
        kind: "layer",
        out,
        inputs: t.inputs.map((i) => slot.get(i.id)!),
        layer,
        inputShapes: t.inputs.map(sampleShape),
      });
      slot.set(t.id, out);
      continue;
    }
    const { last, bn, activation, absorbed: chain } = convChain(t, next);
    chain.forEach((id) => absorbed.add(id));
    if (bn) program.folded++;
    const c = config(layer);
    const padding = paddings.get(t.id);
    const input = padding?.input ?? t.inputs[0];
    ops.push({
      kind: CONVOLUTIONS[className(layer)],
      out,
      input: slot.get(input.id)!,
      inputShape: sampleShape(input),
      weights: convWeights(layer, bn, trainable, program.kept),
      strides: pair(c.strides),
      pad: padding?.pad ?? c.padding as "same" | "valid",
      dilations: pair(c.dilationRate ?? 1),
      activation,
    });
    slot.set(last.id, out);
  }
  return program;
}

/** One sample's shape of a symbolic tensor (its batch axis dropped). */
function sampleShape(t: SymbolicTensor): number[] {
  return (t.shape as number[]).slice(1);
}

/** The folded program of a frozen model: its ops in order (convolution chains with their folded
 * weights, every other layer as itself) and the slot of its output, for writing it out in another
 * format (lib/model/onnx.ts). dispose() frees the folded weights. */
export function foldPlan(
  model: tf.LayersModel,
): { ops: FoldOp[]; outputs: number[]; dispose(): void } {
  const { order, next } = graphOf(model);
  const program = compile(order, next, foldablePaddings(order, next), false);
  return {
    ops: program.ops,
    outputs: model.outputs.map((o) => program.slot.get(o.id)!),
    dispose: () => tf.dispose(program.kept),
  };
}

/** Trainable: the folded weights recomputed from the live variables at every call (inside the
 * gradient tape). Frozen: computed once and kept. */
function convWeights(
  layer: Layer,
  bn: Layer | undefined,
  trainable: boolean,
  kept: tf.Tensor[],
): () => ConvWeights {
  if (trainable) return () => foldedWeights(layer, bn);
  const fixed = tf.tidy(() => {
    const w = foldedWeights(layer, bn);
    return { filter: w.filter.clone(), pointwise: w.pointwise?.clone(), bias: w.bias?.clone() };
  });
  kept.push(...[fixed.filter, fixed.pointwise, fixed.bias].filter((w) => w !== undefined));
  return () => fixed;
}

/** Runs the ops on x; returns every slot's value (call inside a tidy). */
function run(program: Program, x: tf.Tensor, trainable: boolean): tf.Tensor[] {
  const values: tf.Tensor[] = new Array(program.slot.size);
  for (const op of program.ops) {
    if (op.kind === "input") values[op.out] = x;
    else if (op.kind === "layer") {
      const inputs = op.inputs.map((i) => values[i]);
      values[op.out] = op.layer.apply(inputs.length === 1 ? inputs[0] : inputs, {
        training: false,
      }) as tf.Tensor;
    } else values[op.out] = runConv(op, values[op.input] as tf.Tensor4D, trainable);
  }
  return values;
}
