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
 * Images flow through the graph as matrices [channels, photos x positions], not NHWC: a 1x1
 * convolution is then one matrix product, and a depthwise 3x3 convolution is one batched product
 * per channel, [photos, positions] x [positions, positions], with a matrix built from the
 * channel's nine weights (which positions feed which). ONNX Runtime's grouped convolution has a
 * fast path only for constant kernels, and each NCHW convolution needed transposes around it:
 * written this way the step has no transposes of activations and ran 2.1x faster (2.5x with the
 * changes the profile asked for next, each explained where it is written; bench/RESULTS.md).
 *
 * Gradients are checked against tfjs' autodiff on the same batch (test/train/native_step_test.ts).
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
  /** The trainable variables, in the optimizer's order (`trainableVariables`), which is their
   * order in the graph's flat `w` and `a` vectors. */
  variables: tf.Variable[];
  /** Where each variable starts in the flat vectors (and, last, their length). */
  offsets: number[];
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
  /** Values whose gradient nothing reads (the cached activations): none is computed. */
  readonly #constants = new Set<string>();
  /** Gradients of image values that are the same at every position (a pooled gradient), kept as
   * [channels, photos, 1]: spreading one over a 1280-channel map alone took longer than the
   * product that reads it. */
  readonly #spread = new Map<string, { compact: string; positions: number }>();
  readonly #shared = new Map<string, string>();

  constructor(readonly batch: number) {}

  /** A constant written once however many layers use it (rows of ones, the shift basis). */
  shared(key: string, dims: number[], values: () => Float32Array): string {
    let name = this.#shared.get(key);
    if (!name) this.#shared.set(key, name = this.g.weight(key, values(), dims));
    return name;
  }

  constant(value: string): void {
    this.#constants.add(value);
  }

  needsGrad(value: string): boolean {
    return !this.#constants.has(value);
  }

  /** Adds `grad` to the gradient of `value`. */
  addGrad(value: string, grad: string): void {
    if (!this.needsGrad(value)) return;
    const known = this.grad(value);
    this.#grads.set(value, known ? this.g.node("Add", [known, grad]) : grad);
  }

  grad(value: string): string | undefined {
    const spread = this.#spread.get(value);
    if (spread) {
      // Spread into the full map only for a reader that needs it.
      this.#spread.delete(value);
      const { positions } = spread;
      const ones = this.shared(
        `ones_1x1x${positions}`,
        [1, 1, positions],
        () => new Float32Array(positions).fill(1),
      );
      this.#grads.set(value, this.reshape(this.g.node("Mul", [spread.compact, ones]), [0, -1]));
    }
    return this.#grads.get(value);
  }

  setSpreadGrad(value: string, compact: string, positions: number): void {
    if (this.#grads.has(value) || this.#spread.has(value)) {
      throw new Error(`${value}: a spread gradient must be its only one`);
    }
    this.#spread.set(value, { compact, positions });
  }

  /** The compact form of a gradient that is still only a spread one. */
  spreadGrad(value: string): { compact: string; positions: number } | undefined {
    return this.#spread.get(value);
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

  matMul(a: string, b: string): string {
    return this.g.node("MatMul", [a, b]);
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

/** A 1x1 convolution (stride 1, no bias) and the BatchNorm after it: [cout, cin] x [cin, m]. */
async function pointwise(b: Builder, conv: Layer, bn: Layer, x: Value): Promise<Value> {
  const kernel = await b.weight(conv, "kernel");
  const [, , cin, cout] = kernel.dims;
  const norm = await batchNorm(b, bn);
  const k2 = b.reshape(kernel.name, [cin, cout]);
  const folded = b.g.node("Mul", [k2, norm.s]);
  // Where the output is the wider side, the shift rides in the product: a row of ones under the
  // input and the shift as one more column of the kernel (a pass over the output saved, and the
  // shift's gradient comes out of the kernel's product); ONNX Runtime's own fusion of the Add into
  // a Gemm took longer than the two apart.
  const widening = cout > cin;
  const kernelT = b.transpose(folded, [1, 0]);
  const input = widening ? withOnes(b, x) : x.name;
  const product = widening
    ? b.matMul(b.g.node("Concat", [kernelT, b.reshape(norm.t, [cout, 1])], { axis: 1 }), input)
    : b.matMul(kernelT, x.name);
  const z = widening ? product : b.g.node("Add", [product, b.reshape(norm.t, [cout, 1])]);
  b.onBackward(() => {
    const dz = b.grad(z)!;
    if (b.needsGrad(x.name)) b.addGrad(x.name, b.matMul(folded, dz));
    const dInput = b.matMul(input, b.transpose(dz, [1, 0]));
    const rows = (from: number, to: number) =>
      b.g.node("Slice", [dInput, b.ints([from]), b.ints([to]), b.ints([0])]);
    const dFolded = widening ? rows(0, cin) : dInput;
    const dt = widening ? b.reshape(rows(cin, cin + 1), [cout]) : b.sum(dz, [1]);
    b.addGrad(kernel.name, b.reshape(b.g.node("Mul", [dFolded, norm.s]), kernel.dims));
    norm.backward(b.sum(b.g.node("Mul", [dFolded, k2]), [0]), dt);
  });
  return { name: z, shape: [...x.shape.slice(0, -1), cout] };
}

/** An image value [channels, photos x positions] with a row of ones under it. */
function withOnes(b: Builder, x: Value): string {
  const m = b.batch * x.shape[0] * x.shape[1];
  const row = b.shared(`ones_1x${m}`, [1, m], () => new Float32Array(m).fill(1));
  return b.g.node("Concat", [x.name, row], { axis: 0 });
}

/** Which input position feeds which output position through each of a 3x3 "same" kernel's nine
 * taps, on an h x w map: basis[tap][q * hw + p] = 1 when input q feeds output p. */
function shiftBasis(h: number, w: number): Float32Array {
  const hw = h * w;
  const basis = new Float32Array(9 * hw * hw);
  for (let di = 0; di < 3; di++) {
    for (let dj = 0; dj < 3; dj++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const [qi, qj] = [i + di - 1, j + dj - 1];
          if (qi < 0 || qi >= h || qj < 0 || qj >= w) continue;
          basis[(di * 3 + dj) * hw * hw + (qi * w + qj) * hw + i * w + j] = 1;
        }
      }
    }
  }
  return basis;
}

/** A depthwise 3x3 convolution (stride 1, "same", multiplier 1) and the BatchNorm after it: per
 * channel, [photos, positions] x [positions, positions], the second matrix built from the
 * channel's nine weights and the shift basis. */
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
  const hw = h * w;
  const norm = await batchNorm(b, bn);
  const k3 = b.reshape(kernel.name, [3, 3, channels]);
  const folded = b.g.node("Mul", [k3, norm.s]);
  const perChannel = b.transpose(b.reshape(folded, [9, channels]), [1, 0]);
  const shifts = b.shared(`shift_basis_${h}x${w}`, [9, hw * hw], () => shiftBasis(h, w));
  const t = b.reshape(b.matMul(perChannel, shifts), [channels, hw, hw]);
  const x3 = b.reshape(x.name, [channels, -1, hw]);
  const z = b.g.node("Add", [
    b.reshape(b.matMul(x3, t), [channels, -1]),
    b.reshape(norm.t, [channels, 1]),
  ]);
  b.onBackward(() => {
    const dz = b.grad(z)!;
    const dz3 = b.reshape(dz, [channels, -1, hw]);
    if (b.needsGrad(x.name)) {
      b.addGrad(x.name, b.reshape(b.matMul(dz3, b.transpose(t, [0, 2, 1])), [channels, -1]));
    }
    const dt = b.reshape(b.matMul(b.transpose(x3, [0, 2, 1]), dz3), [channels, hw * hw]);
    // The basis turned round is a constant: ONNX Runtime folds the transpose once.
    const dPerChannel = b.matMul(dt, b.transpose(shifts, [1, 0]));
    const dFolded = b.reshape(b.transpose(dPerChannel, [1, 0]), [3, 3, channels]);
    b.addGrad(kernel.name, b.reshape(b.g.node("Mul", [dFolded, norm.s]), kernel.dims));
    norm.backward(b.sum(b.g.node("Mul", [dFolded, k3]), [0, 1]), b.sum(dz, [1]));
  });
  return { name: z, shape: x.shape };
}

/** ReLU6, as tfjs' clipByValue: the gradient passes where 0 <= x <= 6. */
function relu6(b: Builder, x: Value): Value {
  const [low, high] = [b.g.scalar(0), b.g.scalar(6)];
  const y = b.g.node("Clip", [x.name, low, high]);
  b.onBackward(() => {
    // Where the clip changed nothing, 0 <= x <= 6: a float mask and one product (with a pooled
    // gradient spread by the product's broadcast).
    const spread = b.spreadGrad(y);
    const [mask, dy] = spread
      ? [b.reshape(b.g.node("Equal", [x.name, y]), [0, -1, spread.positions]), spread.compact]
      : [b.g.node("Equal", [x.name, y]), b.grad(y)!];
    const dx = b.g.node("Mul", [b.g.node("Cast", [mask], { to: 1 }), dy]);
    b.addGrad(x.name, spread ? b.reshape(dx, [0, -1]) : dx);
  });
  return { name: y, shape: x.shape };
}

function add(b: Builder, inputs: Value[]): Value {
  const y = inputs.slice(1).reduce((sum, v) => b.g.node("Add", [sum, v.name]), inputs[0].name);
  b.onBackward(() => inputs.forEach((v) => b.addGrad(v.name, b.grad(y)!)));
  return { name: y, shape: inputs[0].shape };
}

/** [channels, photos x positions] -> [photos, channels], the mean over positions. */
function globalAverage(b: Builder, x: Value): Value {
  const [h, w, channels] = x.shape;
  const mean = b.g.node("ReduceMean", [b.reshape(x.name, [channels, -1, h * w])], {
    axes: [2],
    keepdims: 0,
  });
  const y = b.transpose(mean, [1, 0]);
  b.onBackward(() => {
    const compact = b.g.node("Mul", [
      b.g.node("Unsqueeze", [b.transpose(b.grad(y)!, [1, 0]), b.ints([2])]),
      b.g.scalar(1 / (h * w)),
    ]);
    b.setSpreadGrad(x.name, compact, h * w);
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
 * of `batch` cached activations. Inputs: `x` (activations), `y` (the cross-entropy's targets: one-hot
 * labels, or soft ones), `c` (each sample's weights on the centers), `lr`, `w` (every
 * trainable variable, flat, one after another) and `a` (their momentum, the same way); outputs:
 * `main`, `center`, `aux` (the loss terms) and `w_next`, `a_next`. One flat vector each, not a
 * pair per variable: the update is four operations instead of 120, and a step hands ONNX Runtime
 * five arrays instead of 63. Throws `NotNative` for a part it cannot write.
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
  // The cached NHWC activations as [channels, photos x positions]; nothing needs their gradient.
  const xT = b.reshape(b.transpose(x, [3, 0, 1, 2]), [topShape[2], -1]);
  b.constant(xT);
  const y = b.g.input("y", ["batch", model.classes]);
  // Each sample's weights on the class centers: its one-hot label, or a mix of two (mixup).
  const c = b.g.input("c", ["batch", model.classes]);
  const lr = b.g.input("lr", []);
  const offsets = [0];
  for (const v of variables) offsets.push(offsets.at(-1)! + v.size);
  const total = offsets.at(-1)!;
  const w = b.g.input("w", [total]);
  const a = b.g.input("a", [total]);
  variables.forEach((v, i) => {
    const slice = b.g.node("Slice", [w, b.ints([offsets[i]]), b.ints([offsets[i + 1]])]);
    b.params.set(v, b.reshape(slice, v.shape as number[]));
  });
  const [features] = await append(b, top, { name: xT, shape: topShape });
  const [embedding, main, aux] = await append(b, model.head, features);
  const centers = b.params.get(model.centers as tf.Variable)!;
  const losses = {
    main: crossEntropy(b, main, y, 1),
    center: centerLoss(b, embedding, c, centers, options.lossWeights.center),
    aux: crossEntropy(b, aux, y, options.lossWeights.aux),
  };
  b.backward();
  for (const [name, value] of Object.entries(losses)) b.g.output(value, name, []);
  if (variables.some((v) => product(v.shape as number[]) === 0)) {
    throw new NotNative("an empty variable");
  }
  const gradients = variables.map((v) => {
    const gradient = b.grad(b.params.get(v)!);
    if (!gradient) throw new NotNative(`${v.name}: no gradient reaches it`);
    return b.reshape(gradient, [-1]);
  });
  const gradient = b.g.node("Concat", gradients, { axis: 0 });
  const nextA = b.g.node("Add", [b.g.node("Mul", [b.g.scalar(options.momentum), a]), gradient]);
  b.g.output(nextA, "a_next", [total]);
  b.g.output(b.g.node("Add", [b.g.node("Mul", [b.g.node("Neg", [lr]), nextA]), w]), "w_next", [
    total,
  ]);
  return { bytes: b.g.encode("top_step"), variables, offsets };
}
