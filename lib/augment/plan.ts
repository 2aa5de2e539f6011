/**
 * What one sample's augmentation draws, apart from what it does to pixels. The draws come from
 * the sample's generator in the seed's order (splice, or rotate, zoom, flip, mask), so a plan is
 * the whole of a sample's randomness: the op-by-op reference (`applyPlan`) and the one-pass
 * renderer (`warp.ts`) turn the same plan into the same image.
 */
import type { Rng } from "../rng.ts";
import {
  drawQuadrant,
  drawSplice,
  drawZoom,
  flipHorizontal,
  maskQuadrant,
  type Resample,
  type RgbImage,
  rotate,
  SEED_AUGMENT,
  splice,
  type SpliceCut,
  zoom,
} from "./ops.ts";
import type { AugmentPolicy } from "./policy.ts";
import type { Sample } from "./sampler.ts";

/** Where photos come from (the decoded-image cache, or decoded photos in memory). */
export interface PhotoSource {
  size: number;
  /** The photo's pixels, read into `into` when the source can (a buffer reused in hot loops). */
  read(id: string, into?: Uint8Array): RgbImage;
  /** Every id a zoom-out may use as background (the seed: any training photo, any class). */
  backgroundIds: readonly string[];
}

/** Two photos of one breed joined along a cut, and nothing else: the splice is the augmentation. */
export interface SplicePlan {
  kind: "splice";
  ids: readonly [string, string];
  cut: SpliceCut;
  at: number;
}

/** One photo through the geometric chain; an absent step was switched off by the policy. */
export interface WarpPlan {
  kind: "warp";
  id: string;
  /** Counter-clockwise rotation about the centre. */
  degrees?: number;
  /** Zoom ratio and offset; zooming out pastes onto `background`, another training photo. */
  zoom?: { ratio: number; left: number; top: number; background?: string };
  flip: boolean;
  quadrant?: 0 | 1 | 2 | 3;
}

export type AugmentPlan = SplicePlan | WarpPlan;

/** Draws sample's plan from `rng` (the batch's generator, shared by its samples in order). */
export function drawPlan(
  sample: Sample,
  policy: AugmentPolicy,
  rng: Rng,
  size: number,
  backgroundIds: readonly string[],
): AugmentPlan {
  const { ids } = sample;
  if (ids.length === 2 && policy.splice) return { kind: "splice", ids, ...drawSplice(rng, size) };
  const plan: WarpPlan = { kind: "warp", id: ids[0], flip: false };
  if (policy.rotate) plan.degrees = rng.uniform(-SEED_AUGMENT.maxDegrees, SEED_AUGMENT.maxDegrees);
  if (policy.zoom) {
    const { ratio, left, top, pastes } = drawZoom(rng, size);
    plan.zoom = { ratio, left, top };
    if (pastes) plan.zoom.background = rng.pick(backgroundIds);
  }
  if (policy.flip) plan.flip = rng.bernoulli(SEED_AUGMENT.flipP);
  if (policy.mask) plan.quadrant = drawQuadrant(rng);
  return plan;
}

/** The plan applied one operation at a time (the readable reference; bilinear too). */
export function applyPlan(
  plan: AugmentPlan,
  source: PhotoSource,
  mode: Resample = "nearest",
): RgbImage {
  if (plan.kind === "splice") {
    return splice(source.read(plan.ids[0]), source.read(plan.ids[1]), plan.cut, plan.at);
  }
  let img = source.read(plan.id);
  if (plan.degrees !== undefined) img = rotate(img, plan.degrees, mode);
  if (plan.zoom) {
    const { ratio, left, top, background } = plan.zoom;
    img = zoom(img, ratio, left, top, background ? source.read(background) : img, mode);
  }
  if (plan.flip) img = flipHorizontal(img);
  if (plan.quadrant !== undefined) img = maskQuadrant(img, plan.quadrant);
  return img;
}
