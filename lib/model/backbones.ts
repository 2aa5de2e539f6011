/**
 * The backbones this project ships, by name: a plain map, so adding one is one line here plus
 * its module (no registration by import side effect).
 */
import { type Backbone, type BackboneSpec, buildFromSpec, cutStageNames } from "./backbone.ts";
import { mobileNetV2 } from "./mobilenet_v2.ts";
import { xception } from "./xception.ts";

export const BACKBONES: Readonly<
  Record<string, (options: Record<string, unknown>) => BackboneSpec>
> = {
  mobilenet_v2: (options) =>
    mobileNetV2({ alpha: options.alpha as number | undefined, size: options.size as number }),
  xception: () => xception(),
};

export function backboneNames(): string[] {
  return Object.keys(BACKBONES);
}

/** A backbone's options: its width, input size, and where fine-tuning starts training it. */
export type BackboneOptions = Record<string, unknown> & { size?: number; unfreezeFrom?: string };

/** A backbone's description by name, without building it (its official weights, its stages).
 * `unfreezeFrom` moves where stages 2-3 start training it (default: the backbone's own choice). */
export function backboneSpec(name: string, options: BackboneOptions = {}): BackboneSpec {
  const make = BACKBONES[name];
  if (!make) throw new Error(`unknown backbone '${name}' (known: ${backboneNames().join(", ")})`);
  const spec = make(options);
  return options.unfreezeFrom ? { ...spec, unfreezeFromStage: options.unfreezeFrom } : spec;
}

/** Builds a backbone by name, e.g. `buildBackbone("mobilenet_v2", { alpha: 0.35 })`. */
export function buildBackbone(name: string, options: BackboneOptions = {}): Backbone {
  return buildFromSpec(backboneSpec(name, options), options.size);
}

/** The stages of a backbone by name that fine-tuning can start from (`cutStageNames`). */
export function unfreezableStages(name: string, options: BackboneOptions = {}): string[] {
  const spec = backboneSpec(name, options);
  return cutStageNames(spec.stages(options.size ?? spec.defaultSize));
}
