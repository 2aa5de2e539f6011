/**
 * What every backbone declares, and the registry that makes a new backbone one file. A backbone
 * is built as an ordered list of *stages* whose layers exist once: applied in sequence they form
 * the full feature extractor, and the same layer objects applied from a later stage on form its
 * top alone, so training can run the frozen trunk once and cache its output (weights are shared,
 * never copied).
 */
import { tf } from "../tf.ts";

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
  /** Stage name where fine-tuning starts unfreezing (the seed: the last two blocks). */
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

const registry = new Map<string, (options: Record<string, unknown>) => BackboneSpec>();

/** Registers a backbone family under a name (done by each backbone's module). */
export function registerBackbone(
  name: string,
  make: (options: Record<string, unknown>) => BackboneSpec,
): void {
  registry.set(name, make);
}

export function backboneNames(): string[] {
  return [...registry.keys()];
}

/** Builds a backbone by name, e.g. `buildBackbone("mobilenet_v2", { alpha: 0.35 })`. */
export function buildBackbone(
  name: string,
  options: Record<string, unknown> & { size?: number } = {},
): Backbone {
  const make = registry.get(name);
  if (!make) throw new Error(`unknown backbone '${name}' (known: ${backboneNames().join(", ")})`);
  const spec = make(options);
  const size = options.size ?? spec.defaultSize;
  const stages = spec.stages(size);
  const input = tf.input({ shape: [size, size, 3], name: "input_1" });
  const output = stages.reduce((x, stage) => stage.apply(x), input);
  const model = tf.model({ inputs: input, outputs: output, name: spec.name });
  return { spec, size, stages, model, features: output.shape[output.shape.length - 1] as number };
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
