/**
 * A sample's plan rendered in one pass, straight into the batch. Under nearest resampling every
 * step of the seed's chain (rotate, zoom by resize and crop or paste, flip, mask) only moves
 * pixels, so their composition is one source pixel per output pixel: found here per pixel, read
 * once, scaled once. Op by op, the chain made four intermediate images per sample and spent most
 * of its time allocating and filling them; this writes nothing but the output, and gives the same
 * floats, bit for bit (`test/augment/warp_test.ts`).
 */
import { spliceMask } from "./ops.ts";
import type { AugmentPlan, PhotoSource, SplicePlan, WarpPlan } from "./plan.ts";

/** x / 127.5 - 1 for each byte, as float32: Xception / MobileNet input scaling. */
const LEVELS = Float32Array.from({ length: 256 }, (_, v) => v / 127.5 - 1);

/** Where a rendered sample goes: `out` from `offset`, interleaved (NHWC) or planar (NCHW). */
export interface Target {
  out: Float32Array;
  offset: number;
  planar: boolean;
}

/**
 * What a renderer reuses from sample to sample: both photos a sample may read, side by side in one
 * buffer with a black pixel after them, so that every output pixel is one byte offset into it.
 */
export class WarpBuffers {
  readonly pixels: Uint8Array;
  readonly a: Uint8Array;
  readonly b: Uint8Array;
  /** Byte offset of each output pixel's source in `pixels`. */
  readonly index: Int32Array;
  readonly black: number;
  constructor(readonly size: number) {
    const frame = size * size * 3;
    this.pixels = new Uint8Array(2 * frame + 3);
    this.a = this.pixels.subarray(0, frame);
    this.b = this.pixels.subarray(frame, 2 * frame);
    this.index = new Int32Array(size * size);
    this.black = 2 * frame;
  }

  /** Reads photo `id` into slot `a` or `b` (copying when the source keeps its own pixels). */
  read(source: PhotoSource, id: string, slot: "a" | "b"): void {
    const into = this[slot];
    const { data } = source.read(id, into);
    if (data !== into) into.set(data);
  }
}

/** Renders `plan` (nearest resampling) into `target`. */
export function renderPlan(
  plan: AugmentPlan,
  source: PhotoSource,
  target: Target,
  buffers = new WarpBuffers(source.size),
): void {
  if (buffers.size !== source.size) throw new RangeError("buffers for another photo size");
  if (plan.kind === "splice") spliceIndex(plan, source, buffers);
  else warpIndex(plan, source, buffers);
  gather(buffers, target);
}

function spliceIndex(plan: SplicePlan, source: PhotoSource, buf: WarpBuffers): void {
  const s = source.size;
  buf.read(source, plan.ids[0], "a");
  buf.read(source, plan.ids[1], "b");
  const mask = spliceMask(s, plan.cut, plan.at);
  const second = s * s * 3;
  for (let i = 0; i < s * s; i++) buf.index[i] = i * 3 + (mask[i] ? 0 : second);
}

/**
 * Output column (or row) i back through the chain to a column (row) of the rotated photo: the
 * flip, then the zoom's crop or paste offset, then its nearest resize (the same expressions as
 * `ops.resize`, so the same indices). -1 marks a position outside a pasted zoom-out.
 */
function axisIndex(s: number, zoom: WarpPlan["zoom"], shift: number, flip: boolean): Int32Array {
  const index = new Int32Array(s);
  const side = zoom ? Math.floor(s * zoom.ratio) : s;
  const scale = s / side;
  for (let i = 0; i < s; i++) {
    const f = flip ? s - 1 - i : i;
    if (!zoom) {
      index[i] = f;
      continue;
    }
    const z = side >= s ? f + shift : f - shift;
    index[i] = z < 0 || z >= side ? -1 : Math.min(s - 1, Math.floor((z + 0.5) * scale));
  }
  return index;
}

function warpIndex(plan: WarpPlan, source: PhotoSource, buf: WarpBuffers): void {
  const s = source.size;
  buf.read(source, plan.id, "a");
  const background = plan.zoom?.background;
  if (background !== undefined) buf.read(source, background, "b");
  const columns = axisIndex(s, plan.zoom, plan.zoom?.left ?? 0, plan.flip);
  const rows = axisIndex(s, plan.zoom, plan.zoom?.top ?? 0, false);
  const { index, black } = buf;
  const second = s * s * 3;
  const rotated = plan.degrees !== undefined;
  // ops.rotate's inverse map, term for term: round((cos dx - sin dy) + c), round((sin dx + cos dy)
  // + c), with dx, dy the distances from the centre c (the photo is square: one table for both).
  const rad = ((plan.degrees ?? 0) * Math.PI) / 180;
  const cos = Math.cos(rad);
  const sin = Math.sin(rad);
  const c = (s - 1) / 2;
  const cosD = new Float64Array(s);
  const sinD = new Float64Array(s);
  for (let i = 0; i < s; i++) {
    cosD[i] = cos * (i - c);
    sinD[i] = sin * (i - c);
  }
  for (let y = 0; y < s; y++) {
    const ry = rows[y];
    for (let x = 0; x < s; x++) {
      const rx = columns[x];
      let at: number;
      if (rx < 0 || ry < 0) {
        // Outside a pasted zoom-out: the background photo, at the flipped output position.
        at = second + (y * s + (plan.flip ? s - 1 - x : x)) * 3;
      } else if (!rotated) {
        at = (ry * s + rx) * 3;
      } else {
        const ix = Math.round(cosD[rx] - sinD[ry] + c);
        const iy = Math.round(sinD[rx] + cosD[ry] + c);
        at = ix < 0 || iy < 0 || ix >= s || iy >= s ? black : (iy * s + ix) * 3;
      }
      index[y * s + x] = at;
    }
  }
  // The masked quadrant, in output coordinates (after the flip: the seed masks last).
  const q = plan.quadrant;
  if (q !== undefined) {
    const half = s >> 1;
    const [x0, x1] = q % 2 === 0 ? [0, half] : [half, s];
    const [y0, y1] = q < 2 ? [0, half] : [half, s];
    for (let y = y0; y < y1; y++) index.fill(black, y * s + x0, y * s + x1);
  }
}

/** Reads each output pixel's source through the index, scaled, into the target. */
function gather(buf: WarpBuffers, t: Target): void {
  const { pixels, index } = buf;
  const { out, offset } = t;
  const n = index.length;
  if (t.planar) {
    for (let i = 0; i < n; i++) {
      const at = index[i];
      out[offset + i] = LEVELS[pixels[at]];
      out[offset + n + i] = LEVELS[pixels[at + 1]];
      out[offset + 2 * n + i] = LEVELS[pixels[at + 2]];
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const at = index[i];
    const o = offset + i * 3;
    out[o] = LEVELS[pixels[at]];
    out[o + 1] = LEVELS[pixels[at + 1]];
    out[o + 2] = LEVELS[pixels[at + 2]];
  }
}
