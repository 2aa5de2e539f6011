/**
 * MobileNetV2 exactly as `keras.applications.MobileNetV2(include_top=False, pooling="avg")`:
 * same layer names (so Keras and TF.js weight files load by name), same paddings, BatchNorm
 * epsilon 1e-3. Teachable Machine's exported backbone is this network at alpha 0.35.
 */
import { tf } from "../engine/tf.ts";
import type { BackboneSpec, Stage, SymbolicTensor } from "./backbone.ts";

/** Keras' `_make_divisible`: channel counts rounded to multiples of 8, never down by > 10%. */
export function makeDivisible(v: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

const bn = (name: string) =>
  tf.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name });
const relu6 = (name: string) => tf.layers.reLU({ maxValue: 6, name });

/** Keras' `correct_pad` for a stride-2 3x3 convolution: TF-style "same" padding made explicit. */
function stridePad(size: number): [[number, number], [number, number]] {
  const adjust = 1 - (size % 2);
  return [[1 - adjust, 1], [1 - adjust, 1]];
}

/** (expansion, output channels, stride) of blocks 0..16, as in the paper and Keras. */
const BLOCKS: [number, number, number][] = [
  [1, 16, 1],
  [6, 24, 2],
  [6, 24, 1],
  [6, 32, 2],
  [6, 32, 1],
  [6, 32, 1],
  [6, 64, 2],
  [6, 64, 1],
  [6, 64, 1],
  [6, 64, 1],
  [6, 96, 1],
  [6, 96, 1],
  [6, 96, 1],
  [6, 160, 2],
  [6, 160, 1],
  [6, 160, 1],
  [6, 320, 1],
];

function mobileNetV2Stages(alpha: number, size: number): Stage[] {
  const first = makeDivisible(32 * alpha);
  const stages = [stem(first, size)];
  let channels = first;
  let side = Math.ceil(size / 2);
  BLOCKS.forEach(([expansion, filters, stride], id) => {
    const out = makeDivisible(Math.floor(filters * alpha));
    stages.push(invertedResidual(id, channels, out, expansion, stride, side));
    channels = out;
    if (stride === 2) side = Math.ceil(side / 2);
  });
  return [...stages, ...top(alpha)];
}

/** Conv1: a stride-2 3x3 convolution, explicitly padded as Keras does. */
function stem(filters: number, size: number): Stage {
  const pad = tf.layers.zeroPadding2d({ padding: stridePad(size), name: "Conv1_pad" });
  const conv = tf.layers.conv2d({
    filters,
    kernelSize: 3,
    strides: 2,
    padding: "valid",
    useBias: false,
    name: "Conv1",
  });
  const norm = bn("bn_Conv1");
  const act = relu6("Conv1_relu");
  return {
    name: "stem",
    apply: (x) => act.apply(norm.apply(conv.apply(pad.apply(x)))) as SymbolicTensor,
  };
}

/** Block `id`: 1x1 expansion (not in block 0), 3x3 depthwise, linear 1x1 projection, and the
 * residual connection when the shape is kept. `side` is the input's spatial size. */
function invertedResidual(
  id: number,
  inChannels: number,
  out: number,
  expansion: number,
  stride: number,
  side: number,
): Stage {
  const prefix = id === 0 ? "expanded_conv_" : `block_${id}_`;
  const pointwise = (filters: number, name: string) =>
    tf.layers.conv2d({ filters, kernelSize: 1, padding: "same", useBias: false, name });
  const expand = id === 0 ? [] : [
    pointwise(expansion * inChannels, `${prefix}expand`),
    bn(`${prefix}expand_BN`),
    relu6(`${prefix}expand_relu`),
  ];
  const pad = stride === 2
    ? [tf.layers.zeroPadding2d({ padding: stridePad(side), name: `${prefix}pad` })]
    : [];
  const depthwise = tf.layers.depthwiseConv2d({
    kernelSize: 3,
    strides: stride,
    padding: stride === 1 ? "same" : "valid",
    useBias: false,
    name: `${prefix}depthwise`,
  });
  const layers: tf.layers.Layer[] = [
    ...expand,
    ...pad,
    depthwise,
    bn(`${prefix}depthwise_BN`),
    relu6(`${prefix}depthwise_relu`),
    pointwise(out, `${prefix}project`),
    bn(`${prefix}project_BN`),
  ];
  const residual = inChannels === out && stride === 1
    ? tf.layers.add({ name: `${prefix}add` })
    : undefined;
  return {
    name: id === 0 ? "expanded_conv" : `block_${id}`,
    apply: (input) => {
      const x = layers.reduce((t, layer) => layer.apply(t) as SymbolicTensor, input);
      return residual ? residual.apply([input, x]) as SymbolicTensor : x;
    },
  };
}

/** The final 1x1 convolution to 1280 channels, then global average pooling. */
function top(alpha: number): Stage[] {
  const last = alpha > 1 ? makeDivisible(1280 * alpha) : 1280;
  const conv = tf.layers.conv2d({ filters: last, kernelSize: 1, useBias: false, name: "Conv_1" });
  const norm = bn("Conv_1_bn");
  const act = relu6("out_relu");
  const pool = tf.layers.globalAveragePooling2d({ name: "global_average_pooling2d" });
  return [
    { name: "head_conv", apply: (x) => act.apply(norm.apply(conv.apply(x))) as SymbolicTensor },
    { name: "pool", apply: (x) => pool.apply(x) as SymbolicTensor },
  ];
}

/** MobileNetV2 at width `alpha` (Keras' `MobileNetV2(alpha, include_top=False, pooling="avg")`). */
export function mobileNetV2(options: { alpha?: number; size?: number } = {}): BackboneSpec {
  const alpha = Number(options.alpha ?? 1.0);
  const size = Number(options.size ?? 224);
  // Keras names the file with Python's str(float(alpha)): 0.35 -> "0.35", 1 -> "1.0".
  const a = Number.isInteger(alpha) ? alpha.toFixed(1) : String(alpha);
  const file = `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${a}_${size}_no_top.h5`;
  return {
    name: `mobilenet_v2_${alpha}_${size}`,
    defaultSize: 224,
    preprocessing: "tf",
    // The last two blocks and the final 1x1 conv, like Xception's block13 + block14.
    unfreezeFromStage: "block_15",
    officialWeights: {
      url: `https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/${file}`,
      file,
    },
    stages: (s) => mobileNetV2Stages(alpha, s),
  };
}
