/**
 * One training step of the unfrozen top as an ONNX graph, for ONNX Runtime: the forward pass of
 * the top and the seed's heads, the three losses, every gradient (derived here by hand, layer by
 * layer), and the SGD-with-momentum update, with the weights and the momentum buffers as the
 * graph's inputs and outputs. ONNX Runtime has no training API for Node; a graph that computes
 * the new weights is the way to run the step natively.
 *
 * The step is tfjs' step, written out: BatchNorm in inference mode folded into the convolution
 * before it, from the live gamma and beta (`fold.ts`, trainable mode); ReLU6 as a clip whose
 * gradient passes where 0 <= x <= 6 (tfjs' `clipByValue`); softmax cross-entropy averaged over
 * the batch; the center loss `mean_i sum_j (glu_ij - center[y_i]_j)^2` with trainable centers;
 * momentum as tfjs applies it (`a = m a + g; w = w - lr a`). Layers covered: what MobileNetV2's
 * top holds (1x1 and depthwise 3x3 convolutions with BatchNorm, ReLU6, residual adds, global
 * average pooling) and the heads (dense, sigmoid, the GLU's product). Anything else throws
 * `NotNative`, and the step runs on tfjs.
 *
 * Gradients are checked against tfjs' autodiff on the same batch (test/model/onnx_step_test.ts).
 */
import { tf } from "../engine/tf.ts";
import type { LossWeights } from "./loss.ts";
import type { SeedModel } from "./seed_model.ts";
import { trainableVariables } from "./seed_model.ts";
import { OnnxGraph } from "./onnx_graph.ts";

/** A part the step graph cannot write: the step runs on tfjs instead. */
export class NotNative extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotNative";
  }
}

export interface StepGraph {
  /** The encoded ONNX model. */
  bytes: Uint8Array;
  /** The trainable variables, in the order of the graph's `w<i>` inputs and outputs, which is the
   * optimizer's (`trainableVariables`). */
  variables: tf.Variable[];
}

type Layer = tf.layers.Layer;
type SymbolicTensor = ReturnType<typeof tf.input>;

/** A value of the graph and one sample's shape (NHWC for images). */
interface Value {
  name: string;
  shape: number[];
}

const className = (layer: Layer) => layer.getClassName();
const config = (layer: Layer) => layer.getConfig() as Record<string, unknown>;
const product = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** Reverse-mode differentiation over the graph being written: each forward op registers how its
 * inputs' gradients follow from its output's; `backward()` runs them last op first. */
class Builder {
  readonly g = new OnnxGraph();
  readonly #grads = new Map<string, string>();
  readonly #backward: (() => void)[] = [];
  /** Graph input name of each trainable variable (its gradient is wanted). */
  readonly params = new Map<tf.Variable, string>();

  constructor(readonly batch: number) {}

  /** Adds `grad` to the gradient of `value`. */
  addGrad(value: string, grad: string): void {
    const known = this.#grads.get(value);
    this.#grads.set(value, known ? this.g.node("Add", [known, grad]) : grad);
  }

  grad(value: string): string | undefined {
    return this.#grads.get(value);
  }

  onBackward(step: () => void): void {
    this.#backward.push(step);
  }

  backward(): void {
    for (const step of this.#backward.reverse()) step();
  }

  /** A layer weight: a graph input when it trains, else a constant of its current values. */
  async weight(layer: Layer, suffix: string): Promise<{ name: string; dims: number[] }> {
    const w = layer.weights.find((v) => (v.originalName ?? v.name).endsWith(suffix));
    if (!w) throw new NotNative(`${layer.name} has no ${suffix}`);
    const variable = w.read() as tf.Variable;
    const dims = w.shape as number[];
    const input = this.params.get(variable);
    if (input) return { name: input, dims };
    return { name: this.g.weight(suffix, await variable.data() as Float32Array, dims), dims };
  }

  ints(values: number[]): string {
    return this.g.integers("i", values);
  }

  reshape(x: string, dims: number[]): string {
    return this.g.node("Reshape", [x, this.ints(dims)]);
  }

  transpose(x: string, perm: number[]): string {
    return this.g.node("Transpose", [x], { perm });
  }

  sum(x: string, axes: number[]): string {
    return this.g.node("ReduceSum", [x, this.ints(axes)], { keepdims: 0 });
  }
}

/** The per-channel affine map of an inference-mode BatchNorm whose gamma and beta may train:
 * s = gamma / sqrt(var + eps), t = beta - mean * s; and how gamma and beta get their gradients
 * from those of s and t. */
async function batchNorm(b: Builder, bn: Layer) {
  const epsilon = config(bn).epsilon as number;
  const gamma = await b.weight(bn, "gamma");
  const beta = await b.weight(bn, "beta");
  const variable = (suffix: string) =>
    bn.weights.find((v) => (v.originalName ?? v.name).endsWith(suffix))!.read().data();
  const mean = await variable("moving_mean") as Float32Array;
  const variance = await variable("moving_variance") as Float32Array;
  const root = Float32Array.from(variance, (v) => 1 / Math.sqrt(v + epsilon));
  const channels = mean.length;
  const r = b.g.weight("rsqrt_var", root, [channels]);
  const m = b.g.weight("mean", mean, [channels]);
  const s = b.g.node("Mul", [gamma.name, r]);
  const t = b.g.node("Sub", [beta.name, b.g.node("Mul", [m, s])]);
  return {
    s,
    t,
    /** ds, dt -> dgamma = (ds - dt * mean) * r, dbeta = dt. */
    backward(ds: string, dt: string) {
      b.addGrad(gamma.name, b.g.node("Mul", [b.g.node("Sub", [ds, b.g.node("Mul", [dt, m])]), r]));
      b.addGrad(beta.name, dt);
    },
  };
}

/** A 1x1 convolution (stride 1, no bias) and the BatchNorm after it, on NHWC values. */
async function pointwise(b: Builder, conv: Layer, bn: Layer, x: Value): Promise<Value> {
  const kernel = await b.weight(conv, "kernel");
  const [, , cin, cout] = kernel.dims;
  const norm = await batchNorm(b, bn);
  const k2 = b.reshape(kernel.name, [cin, cout]);
  const folded = b.g.node("Mul", [k2, norm.s]);
  const z = b.g.node("Add", [b.g.node("MatMul", [x.name, folded]), norm.t]);
  b.onBackward(() => {
    const dz = b.grad(z)!;
    b.addGrad(x.name, b.g.node("MatMul", [dz, b.transpose(folded, [1, 0])]));
    const x2 = b.reshape(x.name, [-1, cin]);
    const dz2 = b.reshape(dz, [-1, cout]);
    const dFolded = b.g.node("MatMul", [b.transpose(x2, [1, 0]), dz2]);
    const dt = b.sum(dz2, [0]);
    b.addGrad(kernel.name, b.reshape(b.g.node("Mul", [dFolded, norm.s]), kernel.dims));
    norm.backward(b.sum(b.g.node("Mul", [dFolded, k2]), [0]), dt);
  });
  return { name: z, shape: [...x.shape.slice(0, -1), cout] };
}

/** A depthwise 3x3 convolution (stride 1, "same", multiplier 1) and the BatchNorm after it. */
async function depthwise(b: Builder, conv: Layer, bn: Layer, x: Value): Promise<Value> {
  const c = config(conv);
  const kernel = await b.weight(conv, "depthwise_kernel");
  const [kh, kw, channels, multiplier] = kernel.dims;
  const strides = c.strides as number[] | number;
  const stride = Array.isArray(strides) ? strides : [strides, strides];
  if (
    kh !== 3 || kw !== 3 || multiplier !== 1 || stride.some((s) => s !== 1) || c.padding !== "same"
  ) {
    throw new NotNative(
      `${conv.name}: only stride-1 "same" 3x3 depthwise convolutions are written`,
    );
  }
  const [h, w] = x.shape;
  const norm = await batchNorm(b, bn);
  const k3 = b.reshape(kernel.name, [3, 3, channels]);
  const folded = b.g.node("Mul", [k3, norm.s]);
  const filter = b.reshape(b.transpose(folded, [2, 0, 1]), [channels, 1, 3, 3]);
  const xT = b.transpose(x.name, [0, 3, 1, 2]);
  const pads = [1, 1, 1, 1];
  const zT = b.g.node("Conv", [xT, filter], { group: channels, pads, kernel_shape: [3, 3] });
  const z = b.g.node("Add", [b.transpose(zT, [0, 2, 3, 1]), norm.t]);
  b.onBackward(() => {
    const dz = b.grad(z)!;
    const dzT = b.transpose(dz, [0, 3, 1, 2]);
    // Input: the same per-channel correlation with the kernel turned round.
    const flipped = b.g.node("Slice", [
      filter,
      b.ints([-1, -1]),
      b.ints([-4, -4]),
      b.ints([2, 3]),
      b.ints([-1, -1]),
    ]);
    const dxT = b.g.node("Conv", [dzT, flipped], { group: channels, pads, kernel_shape: [3, 3] });
    b.addGrad(x.name, b.transpose(dxT, [0, 2, 3, 1]));
    // Kernel: per channel, the padded input correlated with the output gradient, summed over the
    // batch: a grouped convolution whose groups are the channels and whose inputs are the photos.
    const padded = b.g.node("Pad", [xT, b.ints([0, 0, 1, 1, 0, 0, 1, 1])]);
    const photos = b.reshape(b.transpose(padded, [1, 0, 2, 3]), [1, -1, h + 2, w + 2]);
    const grads = b.transpose(dzT, [1, 0, 2, 3]);
    const dFilter = b.g.node("Conv", [photos, grads], { group: channels });
    const dFolded = b.transpose(b.reshape(dFilter, [channels, 3, 3]), [1, 2, 0]);
    const dt = b.sum(dz, [0, 1, 2]);
    b.addGrad(kernel.name, b.reshape(b.g.node("Mul", [dFolded, norm.s]), kernel.dims));
    norm.backward(b.sum(b.g.node("Mul", [dFolded, k3]), [0, 1]), dt);
  });
  return { name: z, shape: x.shape };
}

/** ReLU6, as tfjs' clipByValue: the gradient passes where 0 <= x <= 6. */
function relu6(b: Builder, x: Value): Value {
  const [low, high] = [b.g.scalar(0), b.g.scalar(6)];
  const y = b.g.node("Clip", [x.name, low, high]);
  b.onBackward(() => {
    // Where the clip changed nothing, 0 <= x <= 6: a float mask and one product.
    const inside = b.g.node("Cast", [b.g.node("Equal", [x.name, y])], { to: 1 });
    b.addGrad(x.name, b.g.node("Mul", [b.grad(y)!, inside]));
  });
  return { name: y, shape: x.shape };
}

function add(b: Builder, inputs: Value[]): Value {
  const y = inputs.slice(1).reduce((sum, v) => b.g.node("Add", [sum, v.name]), inputs[0].name);
  b.onBackward(() => inputs.forEach((v) => b.addGrad(v.name, b.grad(y)!)));
  return { name: y, shape: inputs[0].shape };
}

function globalAverage(b: Builder, x: Value): Value {
  const [h, w, channels] = x.shape;
  const y = b.g.node("ReduceMean", [x.name], { axes: [1, 2], keepdims: 0 });
  b.onBackward(() => {
    const spread = b.g.node("Mul", [
      b.g.node("Unsqueeze", [b.grad(y)!, b.ints([1, 2])]),
      b.g.scalar(1 / (h * w)),
    ]);
    b.addGrad(x.name, b.g.node("Expand", [spread, b.g.node("Shape", [x.name])]));
  });
  return { name: y, shape: [channels] };
}

async function dense(b: Builder, layer: Layer, x: Value): Promise<Value> {
  const kernel = await b.weight(layer, "kernel");
  const bias = await b.weight(layer, "bias");
  const activation = (config(layer).activation as string) ?? "linear";
  if (!["linear", "sigmoid"].includes(activation)) {
    throw new NotNative(`${layer.name}: activation ${activation} is not written`);
  }
  const z = b.g.node("Add", [b.g.node("MatMul", [x.name, kernel.name]), bias.name]);
  const y = activation === "sigmoid" ? b.g.node("Sigmoid", [z]) : z;
  b.onBackward(() => {
    let dz = b.grad(y)!;
    if (activation === "sigmoid") {
      dz = b.g.node("Mul", [dz, b.g.node("Mul", [y, b.g.node("Sub", [b.g.scalar(1), y])])]);
    }
    b.addGrad(kernel.name, b.g.node("MatMul", [b.transpose(x.name, [1, 0]), dz]));
    b.addGrad(bias.name, b.sum(dz, [0]));
    b.addGrad(x.name, b.g.node("MatMul", [dz, b.transpose(kernel.name, [1, 0])]));
  });
  return { name: y, shape: [kernel.dims[1]] };
}

function multiply(b: Builder, [p, q]: Value[]): Value {
  const y = b.g.node("Mul", [p.name, q.name]);
  b.onBackward(() => {
    b.addGrad(p.name, b.g.node("Mul", [b.grad(y)!, q.name]));
    b.addGrad(q.name, b.g.node("Mul", [b.grad(y)!, p.name]));
  });
  return { name: y, shape: p.shape };
}

/** A model's layers in topological order, each output with its inputs. */
function order(model: tf.LayersModel): SymbolicTensor[] {
  const seen = new Set<number>();
  const list: SymbolicTensor[] = [];
  const visit = (t: SymbolicTensor) => {
    if (seen.has(t.id)) return;
    seen.add(t.id);
    t.inputs.forEach(visit);
    list.push(t);
  };
  model.outputs.forEach(visit);
  return list;
}

/** Writes a model's forward pass (and registers its backward), `input` feeding its input. */
async function append(b: Builder, model: tf.LayersModel, input: Value): Promise<Value[]> {
  const values = new Map<number, Value>();
  const list = order(model);
  const consumers = new Map<number, number>();
  for (const t of list) {
    for (const i of t.inputs) consumers.set(i.id, (consumers.get(i.id) ?? 0) + 1);
  }
  const skipped = new Set<number>();
  for (const t of list) {
    if (t.inputs.length === 0) {
      values.set(t.id, input);
      continue;
    }
    if (skipped.has(t.id)) continue;
    const layer = t.sourceLayer;
    const inputs = t.inputs.map((i) => values.get(i.id)!);
    const kind = className(layer);
    let out: Value;
    let id = t.id;
    if (kind === "Conv2D" || kind === "DepthwiseConv2D") {
      // The BatchNorm reading it alone is folded in.
      const next = list.find((u) => u.inputs.length === 1 && u.inputs[0].id === t.id);
      if (
        !next || className(next.sourceLayer) !== "BatchNormalization" || consumers.get(t.id) !== 1
      ) {
        throw new NotNative(`${layer.name}: a convolution without its BatchNorm is not written`);
      }
      const c = config(layer);
      if (kind === "Conv2D") {
        const size = c.kernelSize as number[];
        const strides = c.strides as number[];
        if (size.some((s) => s !== 1) || strides.some((s) => s !== 1) || c.useBias) {
          throw new NotNative(`${layer.name}: only 1x1 stride-1 convolutions are written`);
        }
        out = await pointwise(b, layer, next.sourceLayer, inputs[0]);
      } else out = await depthwise(b, layer, next.sourceLayer, inputs[0]);
      skipped.add(next.id);
      id = next.id;
    } else if (kind === "ReLU") {
      const c = config(layer);
      if (c.maxValue !== 6 || (c.threshold ?? 0) !== 0) {
        throw new NotNative(`${layer.name}: only ReLU6 is written`);
      }
      out = relu6(b, inputs[0]);
    } else if (kind === "Add") out = add(b, inputs);
    else if (kind === "GlobalAveragePooling2D") out = globalAverage(b, inputs[0]);
    else if (kind === "Dense") out = await dense(b, layer, inputs[0]);
    else if (kind === "Multiply") out = multiply(b, inputs);
    else throw new NotNative(`${layer.name} (${kind}) is not written for the native step`);
    values.set(id, out);
  }
  return model.outputs.map((o) => values.get(o.id)!);
}

/** Cross-entropy of softmax(logits) against one-hot `y`, averaged over the batch; registers
 * `weight` times its gradient. Returns the loss. */
function crossEntropy(b: Builder, logits: Value, y: string, weight: number): string {
  const logProbabilities = b.g.node("LogSoftmax", [logits.name], { axis: -1 });
  const batch = b.g.scalar(1 / b.batch);
  const loss = b.g.node("Mul", [
    b.g.node("Neg", [b.sum(b.g.node("Mul", [y, logProbabilities]), [0, 1])]),
    batch,
  ]);
  const difference = b.g.node("Sub", [b.g.node("Exp", [logProbabilities]), y]);
  b.addGrad(logits.name, b.g.node("Mul", [difference, b.g.scalar(weight / b.batch)]));
  return loss;
}

/** mean_i sum_j (e_ij - centers[y_i]_j)^2, weighted; gradients to e and the centers. */
function centerLoss(b: Builder, embedding: Value, y: string, centers: string, weight: number) {
  const own = b.g.node("MatMul", [y, centers]);
  const difference = b.g.node("Sub", [embedding.name, own]);
  const loss = b.g.node("Mul", [
    b.sum(b.g.node("Mul", [difference, difference]), [0, 1]),
    b.g.scalar(1 / b.batch),
  ]);
  const d = b.g.node("Mul", [difference, b.g.scalar((2 * weight) / b.batch)]);
  b.addGrad(embedding.name, d);
  b.addGrad(centers, b.g.node("Neg", [b.g.node("MatMul", [b.transpose(y, [1, 0]), d])]));
  return loss;
}

/**
 * The graph of one SGD-with-momentum step of `top` (its trainable layers) and the heads on a batch
 * of `batch` cached activations. Inputs: `x` (activations), `y` (one-hot labels), `lr`, and for
 * each trainable variable `w<i>` and its momentum `a<i>`; outputs: `main`, `center`, `aux` (the
 * loss terms) and `w<i>_next`, `a<i>_next`. Throws `NotNative` for a part it cannot write.
 */
export async function momentumStepGraph(
  model: SeedModel,
  top: tf.LayersModel,
  options: { batch: number; momentum: number; lossWeights: LossWeights },
): Promise<StepGraph> {
  const b = new Builder(options.batch);
  const variables = trainableVariables(model);
  const topShape = (top.inputs[0].shape as number[]).slice(1);
  const x = b.g.input("x", ["batch", ...topShape]);
  const y = b.g.input("y", ["batch", model.classes]);
  const lr = b.g.input("lr", []);
  variables.forEach((v, i) => b.params.set(v, b.g.input(`w${i}`, v.shape as number[])));
  const [features] = await append(b, top, { name: x, shape: topShape });
  const [embedding, main, aux] = await append(b, model.head, features);
  const centers = b.params.get(model.centers as tf.Variable)!;
  const losses = {
    main: crossEntropy(b, main, y, 1),
    center: centerLoss(b, embedding, y, centers, options.lossWeights.center),
    aux: crossEntropy(b, aux, y, options.lossWeights.aux),
  };
  b.backward();
  for (const [name, value] of Object.entries(losses)) b.g.output(value, name, []);
  const momentum = b.g.scalar(options.momentum);
  const step = b.g.node("Neg", [lr]);
  variables.forEach((v, i) => {
    const dims = v.shape as number[];
    const w = b.params.get(v)!;
    const gradient = b.grad(w);
    if (!gradient) throw new NotNative(`${v.name}: no gradient reaches it`);
    const a = b.g.input(`a${i}`, dims);
    const nextA = b.g.node("Add", [b.g.node("Mul", [momentum, a]), gradient]);
    b.g.output(nextA, `a${i}_next`, dims);
    b.g.output(b.g.node("Add", [b.g.node("Mul", [step, nextA]), w]), `w${i}_next`, dims);
  });
  if (variables.some((v) => product(v.shape as number[]) === 0)) {
    throw new NotNative("an empty variable");
  }
  return { bytes: b.g.encode("top_step"), variables };
}
