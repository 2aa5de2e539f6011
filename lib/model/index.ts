/** The model layer's public API: backbones, the seed's head and losses, weights. */
export * from "./backbone.ts";
export * from "./backbones.ts";
export * from "./seed_model.ts";
export * from "./loss.ts";
export * from "./weights.ts";
export * from "./pretrained.ts";
