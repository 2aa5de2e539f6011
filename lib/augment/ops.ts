/**
 * The seed's augmentations as pure functions on 8-bit RGB (HWC) images. Each returns a new
 * image and never touches its input; the random ones take an explicit `Rng`, so a figure or a
 * batch is the same every time it is drawn with the same seed.
 */
import type { Interpolation, RgbImage } from "../data/image.ts";
import type { Rng } from "../rng.ts";

export type { RgbImage };
/** Resampling inside augmentations: the seed resizes and rotates nearest-neighbour. */
export type Resample = Extract<Interpolation, "nearest" | "bilinear">;

export function blank(width: number, height: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3) };
}

export function flipHorizontal(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = blank(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const src = (y * w + (w - 1 - x)) * 3;
      const dst = (y * w + x) * 3;
      out.data[dst] = data[src];
      out.data[dst + 1] = data[src + 1];
      out.data[dst + 2] = data[src + 2];
    }
  }
  return out;
}

/** Resize to w x h. Nearest samples the source pixel whose area contains the target centre
 * (as PIL and OpenCV do); bilinear blends the four around it. */
export function resize(img: RgbImage, w: number, h: number, mode: Resample = "nearest"): RgbImage {
  const out = blank(w, h);
  const sx = img.width / w;
  const sy = img.height / h;
  const src = img.data;
  const W = img.width;
  if (mode === "nearest") {
    for (let y = 0; y < h; y++) {
      const yy = Math.min(img.height - 1, Math.floor((y + 0.5) * sy));
      for (let x = 0; x < w; x++) {
        const xx = Math.min(W - 1, Math.floor((x + 0.5) * sx));
        const s = (yy * W + xx) * 3;
        const d = (y * w + x) * 3;
        out.data[d] = src[s];
        out.data[d + 1] = src[s + 1];
        out.data[d + 2] = src[s + 2];
      }
    }
    return out;
  }
  for (let y = 0; y < h; y++) {
    const fy = Math.max(0, Math.min(img.height - 1, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(img.height - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.max(0, Math.min(W - 1, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(W - 1, x0 + 1);
      const tx = fx - x0;
      const d = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = src[(y0 * W + x0) * 3 + c] * (1 - tx) + src[(y0 * W + x1) * 3 + c] * tx;
        const bottom = src[(y1 * W + x0) * 3 + c] * (1 - tx) + src[(y1 * W + x1) * 3 + c] * tx;
        out.data[d + c] = Math.round(top * (1 - ty) + bottom * ty);
      }
    }
  }
  return out;
}

/** Square crop of side `size` at (left, top). */
export function crop(img: RgbImage, left: number, top: number, size: number): RgbImage {
  if (left < 0 || top < 0 || left + size > img.width || top + size > img.height) {
    throw new RangeError(`crop ${size}px at (${left},${top}) outside ${img.width}x${img.height}`);
  }
  const out = blank(size, size);
  for (let y = 0; y < size; y++) {
    const s = ((top + y) * img.width + left) * 3;
    out.data.set(img.data.subarray(s, s + size * 3), y * size * 3);
  }
  return out;
}

/** `img` pasted onto a copy of `background` with its top-left corner at (left, top). */
export function paste(background: RgbImage, img: RgbImage, left: number, top: number): RgbImage {
  const out: RgbImage = { ...background, data: background.data.slice() };
  for (let y = 0; y < img.height; y++) {
    const s = y * img.width * 3;
    out.data.set(img.data.subarray(s, s + img.width * 3), ((top + y) * out.width + left) * 3);
  }
  return out;
}

/** Rotation about the centre by `degrees` (counter-clockwise), same size; corners that come
 * from outside the photo are black, as the seed's affine warp leaves them. */
export function rotate(img: RgbImage, degrees: number, mode: Resample = "nearest"): RgbImage {
  const { width: w, height: h, data } = img;
  const out = blank(w, h);
  const rad = (degrees * Math.PI) / 180;
  const cos = Math.cos(rad);
  const sin = Math.sin(rad);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Inverse map: which source point lands on (x, y). Image y points down, so a
      // counter-clockwise turn on screen is this sign pattern.
      const dx = x - cx;
      const dy = y - cy;
      const sx = cos * dx - sin * dy + cx;
      const sy = sin * dx + cos * dy + cy;
      const d = (y * w + x) * 3;
      if (mode === "nearest") {
        const ix = Math.round(sx);
        const iy = Math.round(sy);
        if (ix < 0 || iy < 0 || ix >= w || iy >= h) continue;
        const s = (iy * w + ix) * 3;
        out.data[d] = data[s];
        out.data[d + 1] = data[s + 1];
        out.data[d + 2] = data[s + 2];
      } else {
        if (sx < 0 || sy < 0 || sx > w - 1 || sy > h - 1) continue;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const x1 = Math.min(w - 1, x0 + 1);
        const y1 = Math.min(h - 1, y0 + 1);
        const tx = sx - x0;
        const ty = sy - y0;
        for (let c = 0; c < 3; c++) {
          const top = data[(y0 * w + x0) * 3 + c] * (1 - tx) + data[(y0 * w + x1) * 3 + c] * tx;
          const bot = data[(y1 * w + x0) * 3 + c] * (1 - tx) + data[(y1 * w + x1) * 3 + c] * tx;
          out.data[d + c] = Math.round(top * (1 - ty) + bot * ty);
        }
      }
    }
  }
  return out;
}

/** Zoom by `ratio`: resize the s x s photo to floor(s * ratio); larger is cropped back to s at
 * (left, top), smaller is pasted at (left, top) onto `background` (another training photo), so
 * the network sees a small dog in a real scene instead of black borders. */
export function zoom(
  img: RgbImage,
  ratio: number,
  left: number,
  top: number,
  background: RgbImage,
  mode: Resample = "nearest",
): RgbImage {
  const size = img.width;
  // The seed's int(size * r): r >= 1 always crops, r < 1 always pastes.
  const side = Math.floor(size * ratio);
  const scaled = resize(img, side, side, mode);
  if (side >= size) return crop(scaled, left, top, size);
  return paste(background, scaled, left, top);
}

/** How a splice joins two photos. */
export type SpliceCut = "horizontal" | "vertical" | "diagonal" | "antidiagonal";
export const SPLICE_CUTS: readonly SpliceCut[] = [
  "horizontal",
  "vertical",
  "diagonal",
  "antidiagonal",
];

/** 1 where a splice takes `a`, 0 where it takes `b`, for a size x size image:
 * horizontal: rows above `at`; vertical: columns left of `at`; diagonal: the lower triangle
 * (y >= x, numpy's `tril`); antidiagonal: that mask turned 90 degrees (`rot90(tril)`,
 * x + y >= size - 1). */
export function spliceMask(size: number, cut: SpliceCut, at = size >> 1): Uint8Array {
  const mask = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const fromA = cut === "horizontal"
        ? y < at
        : cut === "vertical"
        ? x < at
        : cut === "diagonal"
        ? y >= x
        : x + y >= size - 1;
      mask[y * size + x] = fromA ? 1 : 0;
    }
  }
  return mask;
}

/** Two photos of the same breed joined along a cut: a new, plausible photo of that breed. */
export function splice(a: RgbImage, b: RgbImage, cut: SpliceCut, at?: number): RgbImage {
  if (a.width !== b.width || a.height !== b.height || a.width !== a.height) {
    throw new RangeError("splice needs two square images of the same size");
  }
  const mask = spliceMask(a.width, cut, at);
  const out = blank(a.width, a.height);
  for (let i = 0; i < mask.length; i++) {
    const src = mask[i] ? a.data : b.data;
    out.data[i * 3] = src[i * 3];
    out.data[i * 3 + 1] = src[i * 3 + 1];
    out.data[i * 3 + 2] = src[i * 3 + 2];
  }
  return out;
}

/** Quadrants in reading order: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right. */
export function maskQuadrant(img: RgbImage, quadrant: 0 | 1 | 2 | 3): RgbImage {
  const out: RgbImage = { ...img, data: img.data.slice() };
  const hw = img.width >> 1;
  const hh = img.height >> 1;
  const x0 = quadrant % 2 === 0 ? 0 : hw;
  const y0 = quadrant < 2 ? 0 : hh;
  const x1 = quadrant % 2 === 0 ? hw : img.width;
  const y1 = quadrant < 2 ? hh : img.height;
  for (let y = y0; y < y1; y++) {
    out.data.fill(0, (y * img.width + x0) * 3, (y * img.width + x1) * 3);
  }
  return out;
}

// ---- the random versions, with the seed's parameters ----

/** The seed's parameters: rotation within +-10 degrees, zoom 0.8..1.2, flip and mask at p 0.5. */
export const SEED_AUGMENT = {
  maxDegrees: 10,
  zoom: [0.8, 1.2] as [number, number],
  flipP: 0.5,
  maskP: 0.5,
} as const;

/** A zoom's draws: ratio uniform in [lo, hi], then the offset uniform over every valid position.
 * The seed's int(size * r): r >= 1 always crops, r < 1 always pastes. */
export function drawZoom(
  rng: Rng,
  size: number,
  [lo, hi]: readonly [number, number] = SEED_AUGMENT.zoom,
): { ratio: number; left: number; top: number; pastes: boolean } {
  const ratio = rng.uniform(lo, hi);
  const side = Math.floor(size * ratio);
  const slack = Math.abs(side - size);
  const left = rng.int(slack + 1);
  const top = rng.int(slack + 1);
  return { ratio, left, top, pastes: side < size };
}

/** A splice's draws: one of the four cuts with equal probability, the cut point uniform in
 * [size/4, 3*size/4). */
export function drawSplice(rng: Rng, size: number): { cut: SpliceCut; at: number } {
  const cut = rng.pick(SPLICE_CUTS);
  const lo = Math.floor(size / 4);
  const hi = Math.floor((3 * size) / 4);
  return { cut, at: lo + rng.int(Math.max(1, hi - lo)) };
}

/** With total probability p one quadrant, each with p/4, is drawn; otherwise none. */
export function drawQuadrant(rng: Rng, p: number = SEED_AUGMENT.maskP): 0 | 1 | 2 | 3 | undefined {
  const u = rng.next();
  if (u >= p) return undefined;
  return Math.min(3, Math.floor(u / (p / 4))) as 0 | 1 | 2 | 3;
}

export function randomFlip(img: RgbImage, rng: Rng, p: number = SEED_AUGMENT.flipP): RgbImage {
  return rng.bernoulli(p) ? flipHorizontal(img) : img;
}

export function randomRotate(
  img: RgbImage,
  rng: Rng,
  maxDegrees: number = SEED_AUGMENT.maxDegrees,
  mode: Resample = "nearest",
): RgbImage {
  return rotate(img, rng.uniform(-maxDegrees, maxDegrees), mode);
}

/** A zoom by `drawZoom`; zooming out pastes onto `background()`, drawn only then. */
export function randomZoom(
  img: RgbImage,
  rng: Rng,
  background: () => RgbImage,
  range: readonly [number, number] = SEED_AUGMENT.zoom,
  mode: Resample = "nearest",
): RgbImage {
  const { ratio, left, top, pastes } = drawZoom(rng, img.width, range);
  return zoom(img, ratio, left, top, pastes ? background() : img, mode);
}

export function randomSplice(a: RgbImage, b: RgbImage, rng: Rng): RgbImage {
  const { cut, at } = drawSplice(rng, a.width);
  return splice(a, b, cut, at);
}

/** With total probability p one quadrant, each with p/4, is zeroed. */
export function randomQuarterMask(
  img: RgbImage,
  rng: Rng,
  p: number = SEED_AUGMENT.maskP,
): RgbImage {
  const quadrant = drawQuadrant(rng, p);
  return quadrant === undefined ? img : maskQuadrant(img, quadrant);
}
