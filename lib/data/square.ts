/**
 * The seed's preprocessing of a decoded photo: the centred square of its shorter side, resized
 * nearest-neighbour (`center_crop`, then `misc.imresize(..., 'nearest')`). One pass, no sharp, so
 * the decode workers run it too and both decoders' photos come out of the same arithmetic.
 */
import type { RgbImage } from "./image.ts";

/** Pixels of any 8-bit layout with `channels` interleaved samples, the first three RGB. */
export interface Pixels {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Source index of output position i along an axis of `side` pixels: the source pixel whose area
 * holds the target pixel's centre, as PIL's nearest does (and `augment/ops.resize`). */
function nearestAxis(side: number, size: number, offset: number): Int32Array {
  const scale = side / size;
  return Int32Array.from(
    { length: size },
    (_, i) => offset + Math.min(side - 1, Math.floor((i + 0.5) * scale)),
  );
}

/** The centred square of the shorter side (offset `floor(|w - h| / 2)` on the longer), resized to
 * `size` x `size` nearest-neighbour; RGB out, from RGB (`channels` 3) or RGBA (4) in. The output
 * goes into `into` when given (`size * size * 3` bytes): the decode workers reuse their frames,
 * since a fresh 150 KB buffer a photo costs more in page faults than decoding it. */
export function squareNearest(
  img: Pixels,
  size: number,
  channels: 3 | 4 = 3,
  into?: Uint8Array,
): RgbImage {
  const { width: w, height: h, data } = img;
  if (data.length !== w * h * channels) {
    throw new RangeError(`${w}x${h}x${channels} pixels expected, got ${data.length} bytes`);
  }
  if (into && into.length !== size * size * 3) {
    throw new RangeError(
      `a ${size}x${size} RGB frame takes ${size * size * 3} bytes, not ${into.length}`,
    );
  }
  const out = into ?? new Uint8Array(size * size * 3);
  if (w === size && h === size && channels === 3) {
    out.set(data);
    return { width: w, height: h, data: out };
  }
  const side = Math.min(w, h);
  const cut = Math.floor(Math.abs(w - h) / 2);
  const xs = nearestAxis(side, size, w > h ? cut : 0);
  const ys = nearestAxis(side, size, h > w ? cut : 0);
  for (let y = 0, o = 0; y < size; y++) {
    const row = ys[y] * w;
    for (let x = 0; x < size; x++, o += 3) {
      const s = (row + xs[x]) * channels;
      out[o] = data[s];
      out[o + 1] = data[s + 1];
      out[o + 2] = data[s + 2];
    }
  }
  return { width: size, height: size, data: out };
}
