/**
 * A frozen part of a network compiled for inference: every BatchNormalization that follows a
 * convolution is folded into the convolution's weights and bias, and a ReLU/ReLU6 after it becomes
 * the convolution's fused activation. A conv-BN-ReLU6 triple in Keras is three kernels, two of
 * them full passes over large activation maps; folded it is one `fused.conv2d`, which the wasm
 * backend (XNNPACK) runs with bias and clamp in its output loop.
 *
 * Works on any functional LayersModel by walking its symbolic graph; layers it does not know run
 * as themselves. The weights are copied at compile time, so this is for parts that stay frozen
 * (the trunk); dispose() frees the copies.
 */
import { tf } from "../tf.ts";
import { type InferenceModel, outputShapeOf } from "./inference.ts";

type SymbolicTensor = ReturnType<typeof tf.input>;
type Layer = tf.layers.Layer;
type Activation = "linear" | "relu" | "relu6";

/** What a compiled model runs, step by step, on concrete tensors. */
type Op =
  | { kind: "input"; out: number }
  | {
    kind: "conv" | "depthwise" | "separable";
    out: number;
    input: number;
    filter: tf.Tensor4D;
    pointwise?: tf.Tensor4D;
    bias?: tf.Tensor1D;
    strides: [number, number];
    pad: "same" | "valid";
    dilations: [number, number];
    activation: Activation;
  }
  | { kind: "layer"; out: number; inputs: number[]; layer: Layer };

export interface FoldedModel extends InferenceModel {
  /** How many BatchNormalization layers were folded away (for reporting and tests). */
  folded: number;
  dispose(): void;
}

const className = (layer: Layer) => layer.getClassName();
const config = (layer: Layer) => layer.getConfig() as Record<string, unknown>;
const pair = (v: unknown): [number, number] =>
  Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number];

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
  return tf.tidy(() => {
    const mean = variable(layer, "moving_mean")!;
    const variance = variable(layer, "moving_variance")!;
    const gamma = variable(layer, "gamma") ?? tf.onesLike(mean);
    const beta = variable(layer, "beta") ?? tf.zerosLike(mean);
    const scale = gamma.div(variance.add(c.epsilon as number).sqrt()) as tf.Tensor1D;
    return { scale, shift: beta.sub(mean.mul(scale)) as tf.Tensor1D };
  });
}

/** Compiles `model` (channels-last, one input, one output) for inference. */
export function foldModel(model: tf.LayersModel): FoldedModel {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(`fold: ${model.name} must have one input and one output`);
  }
  // Graph nodes: one per symbolic tensor reachable from the output, in topological order, and
  // who consumes each.
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
  visit(model.outputs[0]);
  /** The one consumer of t, if it has exactly one. */
  const next = (t: SymbolicTensor) => {
    const users = consumers.get(t.id)!;
    return users.length === 1 ? users[0] : undefined;
  };

  const ops: Op[] = [];
  const slot = new Map<number, number>(); // symbolic tensor id -> slot holding its value
  let folded = 0;
  const absorbed = new Set<number>();
  for (const t of order) {
    if (absorbed.has(t.id)) continue;
    const layer = t.sourceLayer;
    const kind = className(layer);
    const out = slot.size;
    if (t.inputs.length === 0) {
      slot.set(t.id, out);
      ops.push({ kind: "input", out });
      continue;
    }
    const conv = { Conv2D: "conv", DepthwiseConv2D: "depthwise", SeparableConv2D: "separable" }[
      kind
    ] as "conv" | "depthwise" | "separable" | undefined;
    const c = config(layer);
    if (conv && (c.activation ?? "linear") === "linear" && c.dataFormat !== "channelsFirst") {
      // Follow the chain conv -> [BN] -> [activation] while each link has a single consumer.
      let last = t;
      let bn: Layer | undefined;
      let activation: Activation = "linear";
      const norm = next(last);
      if (norm && className(norm.sourceLayer) === "BatchNormalization") {
        bn = norm.sourceLayer;
        absorbed.add(norm.id);
        last = norm;
      }
      const after = next(last);
      const act = after && activationOf(after.sourceLayer);
      if (after && act) {
        activation = act;
        absorbed.add(after.id);
        last = after;
      }
      const weights = tf.tidy(() => {
        const kernel = variable(layer, kind === "SeparableConv2D" ? "depthwise_kernel" : "kernel")!;
        const pointwise = kind === "SeparableConv2D" ? variable(layer, "pointwise_kernel")! : null;
        let bias = variable(layer, "bias") as tf.Tensor1D | undefined;
        let filter = kernel as tf.Tensor4D;
        let pw = pointwise as tf.Tensor4D | null;
        if (bn) {
          const { scale, shift } = bnAffine(bn);
          // The output channel is the last axis of a conv/pointwise kernel; a depthwise kernel
          // [h, w, in, multiplier] outputs channel in * multiplier + m.
          if (pw) pw = pw.mul(scale);
          else if (kind === "DepthwiseConv2D") {
            filter = filter.mul(scale.reshape([filter.shape[2], filter.shape[3]]));
          } else filter = filter.mul(scale);
          bias = (bias ? bias.mul(scale).add(shift) : shift) as tf.Tensor1D;
        }
        return {
          filter: tf.keep(filter.clone()),
          pointwise: pw ? tf.keep(pw.clone()) : undefined,
          bias: bias ? tf.keep(bias.clone()) : undefined,
        };
      });
      if (bn) folded++;
      ops.push({
        kind: conv,
        out,
        input: slot.get(t.inputs[0].id)!,
        ...weights,
        strides: pair(c.strides),
        pad: c.padding as "same" | "valid",
        dilations: pair(c.dilationRate ?? 1),
        activation,
      });
      slot.set(last.id, out);
      continue;
    }
    ops.push({ kind: "layer", out, inputs: t.inputs.map((i) => slot.get(i.id)!), layer });
    slot.set(t.id, out);
  }
  const outSlot = slot.get(model.outputs[0].id)!;
  const slots = slot.size;

  return {
    outputShape: outputShapeOf(model),
    folded,
    predict(x: tf.Tensor): tf.Tensor {
      return tf.tidy(() => {
        const values: tf.Tensor[] = new Array(slots);
        for (const op of ops) {
          if (op.kind === "input") values[op.out] = x;
          else if (op.kind === "layer") {
            const inputs = op.inputs.map((i) => values[i]);
            values[op.out] = op.layer.apply(inputs.length === 1 ? inputs[0] : inputs, {
              training: false,
            }) as tf.Tensor;
          } else {
            const input = values[op.input] as tf.Tensor4D;
            const common = { strides: op.strides, pad: op.pad, dilations: op.dilations };
            if (op.kind === "conv") {
              values[op.out] = tf.fused.conv2d({
                x: input,
                filter: op.filter,
                bias: op.bias,
                activation: op.activation,
                ...common,
              });
            } else if (op.kind === "depthwise") {
              values[op.out] = tf.fused.depthwiseConv2d({
                x: input,
                filter: op.filter,
                bias: op.bias,
                activation: op.activation,
                ...common,
              });
            } else {
              const depth = tf.depthwiseConv2d(
                input,
                op.filter,
                op.strides,
                op.pad,
                "NHWC",
                op.dilations,
              );
              values[op.out] = tf.fused.conv2d({
                x: depth,
                filter: op.pointwise!,
                bias: op.bias,
                activation: op.activation,
                strides: 1,
                pad: "valid",
              });
            }
          }
        }
        return values[outSlot];
      });
    },
    dispose() {
      for (const op of ops) {
        if (op.kind === "conv" || op.kind === "depthwise" || op.kind === "separable") {
          op.filter.dispose();
          op.pointwise?.dispose();
          op.bias?.dispose();
        }
      }
    },
  };
}
