/**
 * Xception exactly as `keras.applications.Xception(include_top=False, pooling="avg")` (the seed's
 * backbone): 20,861,480 parameters, Keras layer names. Keras leaves the four residual 1x1
 * convolutions unnamed; they carry the names the official weight file gives them
 * (`conv2d_1`..`conv2d_4`, `batch_normalization_1`..`_4`).
 */
import { tf } from "../engine/tf.ts";
import type { BackboneSpec, Stage, SymbolicTensor } from "./backbone.ts";

type Layer = tf.layers.Layer;
const bn = (name: string) =>
  tf.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.99, name });
const relu = (name: string) => tf.layers.activation({ activation: "relu", name });
const sep = (filters: number, name: string) =>
  tf.layers.separableConv2d({ filters, kernelSize: 3, padding: "same", useBias: false, name });
const chain = (layers: Layer[]) => (x: SymbolicTensor) =>
  layers.reduce((y, layer) => layer.apply(y) as SymbolicTensor, x);

/** Entry and exit blocks: separable convs, max-pool, plus a strided 1x1 conv shortcut. */
function downBlock(
  block: number,
  filters: [number, number],
  residualId: number,
  addId: number,
  leadingRelu: boolean,
): Stage {
  const p = `block${block}`;
  const shortcut = chain([
    tf.layers.conv2d({
      filters: filters[1],
      kernelSize: 1,
      strides: 2,
      padding: "same",
      useBias: false,
      name: `conv2d_${residualId}`,
    }),
    bn(`batch_normalization_${residualId}`),
  ]);
  const main = chain([
    ...(leadingRelu ? [relu(`${p}_sepconv1_act`)] : []),
    sep(filters[0], `${p}_sepconv1`),
    bn(`${p}_sepconv1_bn`),
    relu(`${p}_sepconv2_act`),
    sep(filters[1], `${p}_sepconv2`),
    bn(`${p}_sepconv2_bn`),
    tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "same", name: `${p}_pool` }),
  ]);
  const add = tf.layers.add({ name: `add_${addId}` });
  return { name: p, apply: (x) => add.apply([main(x), shortcut(x)]) as SymbolicTensor };
}

/** Middle flow: three relu-sepconv-bn units with an identity shortcut. */
function middleBlock(block: number, addId: number): Stage {
  const p = `block${block}`;
  const main = chain(
    [1, 2, 3].flatMap((
      i,
    ) => [relu(`${p}_sepconv${i}_act`), sep(728, `${p}_sepconv${i}`), bn(`${p}_sepconv${i}_bn`)]),
  );
  const add = tf.layers.add({ name: `add_${addId}` });
  return { name: p, apply: (x) => add.apply([main(x), x]) as SymbolicTensor };
}

function xceptionStages(): Stage[] {
  const stem = chain([
    tf.layers.conv2d({
      filters: 32,
      kernelSize: 3,
      strides: 2,
      useBias: false,
      name: "block1_conv1",
    }),
    bn("block1_conv1_bn"),
    relu("block1_conv1_act"),
    tf.layers.conv2d({ filters: 64, kernelSize: 3, useBias: false, name: "block1_conv2" }),
    bn("block1_conv2_bn"),
    relu("block1_conv2_act"),
  ]);
  const exit = chain([
    sep(1536, "block14_sepconv1"),
    bn("block14_sepconv1_bn"),
    relu("block14_sepconv1_act"),
    sep(2048, "block14_sepconv2"),
    bn("block14_sepconv2_bn"),
    relu("block14_sepconv2_act"),
  ]);
  const pool = tf.layers.globalAveragePooling2d({ name: "avg_pool" });
  return [
    { name: "block1", apply: stem },
    downBlock(2, [128, 128], 1, 1, false),
    downBlock(3, [256, 256], 2, 2, true),
    downBlock(4, [728, 728], 3, 3, true),
    ...Array.from({ length: 8 }, (_, i) => middleBlock(5 + i, 4 + i)),
    downBlock(13, [728, 1024], 4, 12, true),
    { name: "block14", apply: exit },
    { name: "pool", apply: (x) => pool.apply(x) as SymbolicTensor },
  ];
}

/** Xception (Keras' `Xception(include_top=False, pooling="avg")`), the seed's backbone. */
export const xception = (): BackboneSpec => ({
  name: "xception",
  defaultSize: 299,
  preprocessing: "tf",
  unfreezeFromStage: "block13",
  officialWeights: {
    url: "https://storage.googleapis.com/tensorflow/keras-applications/xception/" +
      "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    file: "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5: "b0042744bf5b25fce3cb969f33bebb97", // as keras.applications.xception pins it
  },
  stages: () => xceptionStages(),
});
