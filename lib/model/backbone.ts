/**
 * What every backbone declares, and how one is built (`backbones.ts` names them). A backbone
 * is built as an ordered list of *stages* whose layers exist once: applied in sequence they form
 * the full feature extractor, and the same layer objects applied from a later stage on form its
 * top alone, so training can run the frozen trunk once and cache its output (weights are shared,
 * never copied).
 */
import { tf } from "../engine/tf.ts";

export type SymbolicTensor = ReturnType<typeof tf.input>;

/** A run of layers, created once, applicable to any symbolic input of the right shape. */
export interface Stage {
  name: string;
  apply(x: SymbolicTensor): SymbolicTensor;
}

export interface BackboneSpec {
  name: string;
  /** Input side the weights were trained at. */
  defaultSize: number;
  /** Input scaling the weights expect: "tf" is x / 127.5 - 1 (Xception, MobileNet). */
  preprocessing: "tf";
  /** Stage name where fine-tuning starts unfreezing (the seed: the last two blocks; a preset's
   * `backbone.unfreezeFrom` moves it). */
  unfreezeFromStage: string;
  /** Official Keras ImageNet weights (no top) for this configuration, where published. */
  officialWeights?: { url: string; md5?: string; sha256?: string; file: string };
  stages(size: number): Stage[];
}

export interface Backbone {
  spec: BackboneSpec;
  size: number;
  stages: Stage[];
  /** image [B, size, size, 3] -> pooled features [B, F]. */
  model: tf.LayersModel;
  features: number;
}

/** Builds a backbone from its declaration at an input size (default: the weights' own). */
export function buildFromSpec(spec: BackboneSpec, size = spec.defaultSize): Backbone {
  const stages = spec.stages(size);
  // Checked here, not when stage 2 starts: a bad cut would otherwise cost stage 1 first.
  const names = cutStageNames(stages);
  if (!names.includes(spec.unfreezeFromStage)) {
    throw new Error(
      `${spec.name}: no stage '${spec.unfreezeFromStage}' to unfreeze from (expected one of ` +
        `${names.join(", ")})`,
    );
  }
  const input = tf.input({ shape: [size, size, 3], name: "input_1" });
  const output = stages.reduce((x, stage) => stage.apply(x), input);
  const model = tf.model({ inputs: input, outputs: output, name: spec.name });
  return { spec, size, stages, model, features: output.shape[output.shape.length - 1] as number };
}

/** The stages fine-tuning can start from, in order: every stage after the first that has
 * weights (the pooling at the end has none). */
export function cutStageNames(stages: Stage[]): string[] {
  return stages.slice(1, -1).map((s) => s.name);
}

/** The backbone cut before stage `from`: `trunk` (image -> activation) and `top`
 * (activation -> pooled features), sharing the backbone's layers. */
export function splitBackbone(
  backbone: Backbone,
  from = backbone.spec.unfreezeFromStage,
): { trunk: tf.LayersModel; top: tf.LayersModel } {
  const at = backbone.stages.findIndex((s) => s.name === from);
  if (at <= 0) throw new Error(`${backbone.spec.name}: no stage '${from}' to split at`);
  const input = tf.input({ shape: [backbone.size, backbone.size, 3] });
  const cut = backbone.stages.slice(0, at).reduce((x, s) => s.apply(x), input);
  const trunk = tf.model({ inputs: input, outputs: cut, name: `${backbone.spec.name}_trunk` });
  const topInput = tf.input({ shape: cut.shape.slice(1) as number[] });
  const out = backbone.stages.slice(at).reduce((x, s) => s.apply(x), topInput);
  const top = tf.model({ inputs: topInput, outputs: out, name: `${backbone.spec.name}_top` });
  return { trunk, top };
}
