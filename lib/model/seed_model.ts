/**
 * The seed's model: pooled backbone features feed
 * - a GLU feature head, Dense(64) * sigmoid(Dense(64)), then a softmax over the classes (main);
 * - an auxiliary softmax straight on the pooled features (aux);
 * plus learned class centers [classes, 64] for the center loss on the GLU features.
 * The head is its own small model (features -> [glu, main logits, aux logits]) so it can train on
 * cached backbone features as well as on images.
 */
import { tf } from "../engine/tf.ts";
import { type Backbone, splitBackbone } from "./backbone.ts";
import { DEFAULTS } from "../defaults.ts";

export interface SeedModelOptions {
  classes: number;
  /** Width of the GLU features and of the centers (the seed: 64). */
  gluUnits?: number;
  /** Without the GLU: main softmax straight on the pooled features (ablation). */
  glu?: boolean;
  seed?: number;
}

export interface SeedModel {
  backbone: Backbone;
  /** features [B, F] -> [glu [B, U], main logits [B, C], aux logits [B, C]]. */
  head: tf.LayersModel;
  centers: tf.Variable;
  classes: number;
}

let centersMade = 0;

export function buildSeedModel(backbone: Backbone, options: SeedModelOptions): SeedModel {
  const { classes, gluUnits = 64, glu = DEFAULTS.glu, seed = DEFAULTS.seed } = options;
  const init = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
  const features = tf.input({ shape: [backbone.features], name: "features" });
  let embedding: tf.SymbolicTensor;
  if (glu) {
    const linear = tf.layers.dense({
      units: gluUnits,
      name: "glu_linear",
      kernelInitializer: init(1),
    }).apply(features);
    const gate = tf.layers.dense({
      units: gluUnits,
      activation: "sigmoid",
      name: "glu_gate",
      kernelInitializer: init(2),
    })
      .apply(features);
    embedding = tf.layers.multiply({ name: "glu" }).apply(
      [linear, gate] as tf.SymbolicTensor[],
    ) as tf.SymbolicTensor;
  } else {
    embedding = features;
  }
  const main = tf.layers.dense({ units: classes, name: "main_logits", kernelInitializer: init(3) })
    .apply(embedding);
  const aux = tf.layers.dense({ units: classes, name: "aux_logits", kernelInitializer: init(4) })
    .apply(features);
  const head = tf.model({
    inputs: features,
    outputs: [embedding, main, aux] as tf.SymbolicTensor[],
    name: "seed_head",
  });
  const width = embedding.shape[1] as number;
  // The variable shares the zeros' data; the zeros tensor itself is ours to free.
  const zeros = tf.zeros([classes, width]);
  // tfjs wants a variable name unique in the process; a counter gives one (randomness not needed).
  const centers = tf.variable(zeros, true, `centers_${++centersMade}`);
  zeros.dispose();
  return { backbone, head, centers, classes };
}

/** image -> [glu, main logits, aux logits]; the backbone always runs in inference mode (frozen
 * BatchNorm statistics, as the Keras fine-tuning guide advises), whatever is trainable. */
export function forward(model: SeedModel, images: tf.Tensor4D): tf.Tensor[] {
  const features = model.backbone.model.apply(images, { training: false }) as tf.Tensor;
  return model.head.apply(features, { training: true }) as tf.Tensor[];
}

/** image -> [main probabilities, aux probabilities], one LayersModel (saveable, batched predict). */
export function predictionModel(model: SeedModel): tf.LayersModel {
  const input = model.backbone.model.inputs[0];
  const features = model.backbone.model.outputs[0];
  const [, main, aux] = model.head.apply(features) as tf.SymbolicTensor[];
  const softmax = (name: string) => tf.layers.activation({ activation: "softmax", name });
  return tf.model({
    inputs: input,
    outputs: [
      softmax("main_probs").apply(main),
      softmax("aux_probs").apply(aux),
    ] as tf.SymbolicTensor[],
    name: "seed_predict",
  });
}

/** Frees every weight of the model. (`LayersModel.dispose` frees a layer's weights only when no
 * other graph uses the layer, and the trunk/top splits of training do.) */
export function disposeSeedModel(model: SeedModel): void {
  for (const layer of [...model.backbone.model.layers, ...model.head.layers]) {
    for (const weight of layer.weights) weight.dispose();
  }
  model.centers.dispose();
}

/** Stage 1: the whole backbone frozen; only the head and the centers train. */
export function freezeBackbone(model: SeedModel): void {
  for (const layer of model.backbone.model.layers) layer.trainable = false;
}

/** Stages 2-3: unfreeze the backbone from a stage on (default: the backbone's last two blocks). */
export function unfreezeFrom(
  model: SeedModel,
  stage = model.backbone.spec.unfreezeFromStage,
): string[] {
  freezeBackbone(model);
  const { top } = splitBackbone(model.backbone, stage);
  const names = new Set(top.layers.map((l) => l.name));
  const unfrozen: string[] = [];
  for (const layer of model.backbone.model.layers) {
    if (names.has(layer.name) && layer.weights.length > 0) {
      layer.trainable = true;
      unfrozen.push(layer.name);
    }
  }
  return unfrozen;
}

/** Everything the optimizer updates now: head, centers, and the unfrozen backbone layers. */
export function trainableVariables(model: SeedModel): tf.Variable[] {
  const fromLayers = [...model.backbone.model.trainableWeights, ...model.head.trainableWeights]
    .map((w) => w.read() as tf.Variable);
  return [...fromLayers, model.centers];
}
