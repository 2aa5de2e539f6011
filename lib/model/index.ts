/** The backbones this project ships; importing this module registers them. */
import "./mobilenet_v2.ts";
import "./xception.ts";
export * from "./backbone.ts";
export * from "./seed_model.ts";
export * from "./loss.ts";
export * from "./weights.ts";
export * from "./pretrained.ts";
