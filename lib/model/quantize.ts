/**
 * Static int8 quantization of an exported ONNX classifier, in the QDQ form ONNX Runtime (native
 * and web) fuses into its int8 kernels (`QLinearConv`, `QLinearAdd`) when it loads the model:
 *
 * - every convolution's weights int8, one scale per output channel (symmetric: a depthwise
 *   convolution's channels differ in range by 100x and more, so one scale for all would flatten
 *   the small ones), and its bias int32 at the scale of input times weight, as the fused kernel
 *   adds it;
 * - every activation a convolution or a residual `Add` reads, uint8 with one scale and zero point
 *   per tensor, from the range it took on calibration photos (`calibrate`: the mean over batches
 *   of each batch's minimum and maximum);
 * - the heads after the global pooling compute in float: 64 GLU features and a few dense layers
 *   are a small part of the time, and the blend of two softmaxes is where precision matters. Their
 *   dense kernels are stored int8 (per output column) all the same: the GLU's two 1280 x 64
 *   kernels were half the int8 file's bytes.
 *
 * `observedModel` gives the graph with those activations as outputs (the calibration pass);
 * `quantizeModel` writes the int8 graph from their ranges.
 */
import onnxProto from "onnx-proto";
import { OnnxSession } from "../engine/onnx.ts";

const { onnx } = onnxProto;
type Model = onnxProto.onnx.IModelProto;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;

const FLOAT = 1;
const UINT8 = 2;
const INT8 = 3;
const INT32 = 6;

/** The range an activation took on the calibration photos. */
export interface Range {
  min: number;
  max: number;
  /** Mean of each channel (NCHW), for a convolution's input: the bias correction. */
  means?: Float32Array;
}

const decode = (bytes: Uint8Array): Model => onnx.ModelProto.decode(bytes);
const encode = (model: Model): Uint8Array =>
  onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();

/** The backbone's nodes: everything before the global pooling (inclusive). */
function backboneNodes(model: Model): Node[] {
  const nodes = model.graph!.node!;
  const pool = nodes.findIndex((n) => n.opType === "GlobalAveragePool");
  if (pool < 0) throw new Error("quantize: no GlobalAveragePool (not a classifier export)");
  return nodes.slice(0, pool + 1);
}

/** The activations the int8 graph quantizes, in graph order: what each convolution, residual add
 * and the pooling read, other than weights. */
export function quantizedActivations(bytes: Uint8Array): string[] {
  return activationsOf(decode(bytes));
}

function activationsOf(model: Model): string[] {
  const weights = new Set(model.graph!.initializer!.map((t) => t.name!));
  const names = new Set<string>();
  for (const node of backboneNodes(model)) {
    const read = node.opType === "Conv" || node.opType === "GlobalAveragePool"
      ? [node.input![0]]
      : node.opType === "Add"
      ? node.input!
      : [];
    for (const name of read) if (!weights.has(name)) names.add(name);
  }
  return [...names];
}

/** Input channels of each convolution's input activation. */
function convInputChannels(model: Model): Map<string, number> {
  const initializers = new Map(model.graph!.initializer!.map((t) => [t.name!, t]));
  const channels = new Map<string, number>();
  for (const node of backboneNodes(model)) {
    if (node.opType !== "Conv") continue;
    const dims = initializers.get(node.input![1])!.dims!.map(Number);
    const group = Number(node.attribute!.find((a) => a.name === "group")?.i ?? 1);
    channels.set(node.input![0], dims[1] * group);
  }
  return channels;
}

/** The model with `tensors` as extra float outputs, for calibration. */
export function observedModel(bytes: Uint8Array, tensors: string[]): Uint8Array {
  const model = decode(bytes);
  const outputs = tensors.map((name) => ({
    name,
    type: { tensorType: { elemType: FLOAT } },
  }));
  model.graph!.output = [...model.graph!.output!, ...outputs];
  return encode(model);
}

/** What one activation looked like over the calibration batches. */
interface Seen {
  mins: number[];
  maxs: number[];
  /** Per channel sums, for a convolution's input (empty otherwise). */
  sums: Float64Array;
  count: number;
}

/**
 * Each activation's range over calibration batches: the mean over the batches of each batch's
 * minimum and maximum (TensorFlow's moving-average observer), not the extremes of all of them. On
 * a run of ten breeds (250 training photos, batches of 16) the extremes cost 0.55 points on the
 * carved-off test part where the means cost none: one outlier pixel no longer sets the step of
 * every other. `batches` yields images for the model's single input (its name is read from the
 * graph), with the batch size.
 */
export async function calibrate(
  bytes: Uint8Array,
  batches: AsyncIterable<{ images: Float32Array; n: number }>,
  { threads = 1 } = {},
): Promise<Map<string, Range>> {
  const model = decode(bytes);
  const tensors = activationsOf(model);
  const input = model.graph!.input![0];
  const dims = input.type!.tensorType!.shape!.dim!.slice(1).map((d) => Number(d.dimValue));
  const session = await OnnxSession.create(observedModel(bytes, tensors), threads);
  const channelsOf = convInputChannels(model);
  const seen = new Map<string, Seen>(tensors.map((t) => [t, {
    mins: [],
    maxs: [],
    sums: new Float64Array(channelsOf.get(t) ?? 0),
    count: 0,
  }]));
  try {
    for await (const { images, n } of batches) {
      const out = await session.runNamed({ [input.name!]: { data: images, dims: [n, ...dims] } });
      for (const name of tensors) observe(seen.get(name)!, out[name], n);
    }
  } finally {
    await session.release();
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return new Map([...seen].map(([name, s]) => [name, {
    min: mean(s.mins),
    max: mean(s.maxs),
    means: s.sums.length ? Float32Array.from(s.sums, (v) => v / s.count) : undefined,
  }]));
}

/** One batch of an activation (NCHW) into what is seen of it. */
function observe(s: Seen, values: Float32Array, n: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  s.mins.push(min);
  s.maxs.push(max);
  const c = s.sums.length;
  if (!c) return;
  const plane = values.length / (n * c);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      const at = (b * c + ch) * plane;
      for (let i = at; i < at + plane; i++) sum += values[i];
      s.sums[ch] += sum;
    }
  }
  s.count += n * plane;
}

/** uint8 scale and zero point covering `range` (and 0, which must be exact: padding). */
export function activationParams({ min, max }: Range): { scale: number; zeroPoint: number } {
  const low = Math.min(min, 0);
  const high = Math.max(max, 0);
  const scale = high > low ? (high - low) / 255 : 1;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-low / scale))) };
}

/** int8 weights with one symmetric scale per channel of `axis` (0: a convolution's output
 * channels, [out, in, kh, kw]; 1: a dense kernel's output columns, [in, out]). */
export function quantizeWeights(
  values: Float32Array,
  dims: number[],
  axis = 0,
): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const peaks = new Float32Array(channels);
  values.forEach((v, i) => {
    const c = channelOf(i);
    peaks[c] = Math.max(peaks[c], Math.abs(v));
  });
  // A channel of zeros still needs a positive scale.
  const scales = peaks.map((peak) => (peak > 0 ? peak / 127 : 1));
  const q = Int8Array.from(values, (v, i) => Math.round(v / scales[channelOf(i)]));
  return { q, scales };
}

/** Bias correction (Nagel et al. 2019): the mean shift rounded weights cause in each output
 * channel, (Wq - W) times the input's mean per channel, which the bias then takes back out. */
function biasShift(
  original: Float32Array,
  q: Int8Array,
  scales: Float32Array,
  dims: number[],
  means: Float32Array,
): Float32Array {
  const [channels, inPerGroup, kh, kw] = dims;
  const per = original.length / channels;
  const depthwise = inPerGroup === 1 && means.length === channels;
  return Float32Array.from({ length: channels }, (_, c) => {
    let sum = 0;
    for (let i = 0; i < per; i++) {
      const err = q[c * per + i] * scales[c] - original[c * per + i];
      sum += err * means[depthwise ? c : Math.floor(i / (kh * kw))];
    }
    return sum;
  });
}

/** A float32 initializer's values. */
function floats(t: Tensor): Float32Array {
  if (t.dataType !== FLOAT || !t.rawData) throw new Error(`quantize: ${t.name} is not raw float`);
  const raw = t.rawData;
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

const raw = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

/**
 * The int8 model: the QDQ form of `bytes` with the calibrated `ranges` (from `calibrate`).
 * Numbers ONNX Runtime computes with it differ from the float model's by the rounding of each
 * quantized tensor; what that costs in accuracy is for the caller to measure.
 */
export function quantizeModel(
  bytes: Uint8Array,
  ranges: Map<string, Range>,
  { biasCorrection = true }: {
    /** Take the rounded weights' mean shift out of each bias (default; off: to measure it). */
    biasCorrection?: boolean;
  } = {},
): Uint8Array {
  const model = decode(bytes);
  const graph = model.graph!;
  const backbone = backboneNodes(model);
  const initializers = new Map(graph.initializer!.map((t) => [t.name!, t]));
  const added: Tensor[] = [];
  const constant = (name: string, dataType: number, dims: number[], data: ArrayBufferView) => {
    added.push({ name, dataType, dims, rawData: raw(data) });
    return name;
  };
  const dq = (input: string, scale: string, zero: string, output: string, axis?: number): Node => ({
    opType: "DequantizeLinear",
    input: [input, scale, zero],
    output: [output],
    attribute: axis === undefined
      ? []
      : [{ name: "axis", i: axis, type: onnx.AttributeProto.AttributeType.INT }],
  });

  // Activations: X -> QuantizeLinear -> DequantizeLinear -> X_dq, read by every consumer.
  const params = new Map<string, { scale: number; zeroPoint: number }>();
  const pairs = new Map<string, Node[]>();
  for (const name of activationsOf(model)) {
    const range = ranges.get(name);
    if (!range || !Number.isFinite(range.min)) throw new Error(`quantize: no range for ${name}`);
    const p = activationParams(range);
    params.set(name, p);
    const scale = constant(`${name}_scale`, FLOAT, [], new Float32Array([p.scale]));
    const zero = constant(`${name}_zero`, UINT8, [], new Uint8Array([p.zeroPoint]));
    pairs.set(name, [
      { opType: "QuantizeLinear", input: [name, scale, zero], output: [`${name}_q`] },
      dq(`${name}_q`, scale, zero, `${name}_dq`),
    ]);
  }

  // Convolutions: int8 weights per output channel, int32 bias at input scale x weight scale
  // (what the fused kernel adds), corrected for the mean shift of the rounded weights.
  const weightNodes: Node[] = [];
  const replaced = new Set<string>();
  const int8Weights = (w: string, axis: number) => {
    const weight = initializers.get(w)!;
    const dims = weight.dims!.map(Number);
    const original = floats(weight);
    const { q, scales } = quantizeWeights(original, dims, axis);
    constant(`${w}_q`, INT8, dims, q);
    constant(`${w}_scale`, FLOAT, [scales.length], scales);
    constant(`${w}_zero`, INT8, [scales.length], new Int8Array(scales.length));
    weightNodes.push(dq(`${w}_q`, `${w}_scale`, `${w}_zero`, `${w}_dq`, axis));
    replaced.add(w);
    return { original, q, scales, dims };
  };
  for (const node of backbone) {
    if (node.opType !== "Conv") continue;
    const [x, w, b] = node.input!;
    const { original, q, scales, dims } = int8Weights(w, 0);
    const inputs = [`${x}_dq`, `${w}_dq`];
    if (b) {
      const means = ranges.get(x)?.means;
      const shift = means && biasCorrection
        ? biasShift(original, q, scales, dims, means)
        : undefined;
      const bias = floats(initializers.get(b)!).map((v, c) => v - (shift?.[c] ?? 0));
      const biasScales = scales.map((s) => s * params.get(x)!.scale);
      const qb = Int32Array.from(bias, (v, c) => Math.round(v / biasScales[c]));
      constant(`${b}_q`, INT32, [dims[0]], qb);
      constant(`${b}_scale`, FLOAT, [dims[0]], biasScales);
      constant(`${b}_zero`, INT32, [dims[0]], new Int32Array(dims[0]));
      weightNodes.push(dq(`${b}_q`, `${b}_scale`, `${b}_zero`, `${b}_dq`, 0));
      replaced.add(b);
      inputs.push(`${b}_dq`);
    }
    node.input = inputs;
  }
  // The heads' dense kernels: int8 per output column, computed in float (half the file's bytes
  // were the GLU's two 1280 x 64 kernels).
  const head = graph.node!.slice(backbone.length);
  for (const node of head) {
    if (node.opType !== "MatMul" || !initializers.has(node.input![1])) continue;
    int8Weights(node.input![1], 1);
    node.input = [node.input![0], `${node.input![1]}_dq`];
  }
  // Residual adds and the pooling read the dequantized activations.
  for (const node of backbone) {
    if (node.opType === "Add" || node.opType === "GlobalAveragePool") {
      node.input = node.input!.map((name) => (pairs.has(name) ? `${name}_dq` : name));
    }
  }

  // Topological order: weights first, then each activation's pair right after what writes it.
  const inputs = graph.input!.map((i) => i.name!);
  const nodes: Node[] = [...weightNodes, ...inputs.flatMap((name) => pairs.get(name) ?? [])];
  for (const node of graph.node!) {
    nodes.push(node);
    for (const out of node.output!) nodes.push(...(pairs.get(out) ?? []));
  }
  graph.node = nodes;
  graph.initializer = [...graph.initializer!.filter((t) => !replaced.has(t.name!)), ...added];
  model.producerName = "dog-breeds (int8, QDQ)";
  return encode(model);
}
