/**
 * The backbones this project ships, by name: a plain map, so adding one is one line here plus
 * its module (no registration by import side effect).
 */
import { type Backbone, type BackboneSpec, buildFromSpec } from "./backbone.ts";
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

/** A backbone's description by name, without building it (its official weights, its stages). */
export function backboneSpec(
  name: string,
  options: Record<string, unknown> & { size?: number } = {},
): BackboneSpec {
  const make = BACKBONES[name];
  if (!make) throw new Error(`unknown backbone '${name}' (known: ${backboneNames().join(", ")})`);
  return make(options);
}

/** Builds a backbone by name, e.g. `buildBackbone("mobilenet_v2", { alpha: 0.35 })`. */
export function buildBackbone(
  name: string,
  options: Record<string, unknown> & { size?: number } = {},
): Backbone {
  return buildFromSpec(backboneSpec(name, options), options.size);
}
