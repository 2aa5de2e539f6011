/**
 * Which photos the fast decoder may take: JPEGs whose pixels need nothing but decoding. Read from
 * the markers before the first scan; anything else (an EXIF rotation, an embedded colour profile,
 * CMYK or YCCK, 12-bit or lossless or arithmetic coding, no end marker, not a JPEG at all) goes to
 * sharp, which rotates, converts and rejects as it always has. Both decoders are libjpeg-turbo's
 * code (sharp's libvips is built with mozjpeg, as is the wasm decoder), so on these files their
 * pixels are the same (`test/data/fast_decode_test.ts`).
 */

/** Width and height of a plain JPEG, or undefined when it is not one. */
export function plainJpeg(bytes: Uint8Array): { width: number; height: number } | undefined {
  const n = bytes.length;
  if (n < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  // A cut-off file has no end-of-image marker: sharp names it truncated.
  if (bytes[n - 2] !== 0xff || bytes[n - 1] !== 0xd9) return undefined;
  let size: { width: number; height: number } | undefined;
  let at = 2;
  while (at + 4 <= n) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1];
    if (marker === 0xff) { // fill byte
      at++;
      continue;
    }
    if (marker === 0xda) return size; // start of scan: the header is read
    if (marker === 0xd9 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) return undefined;
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    const start = at + 4;
    const end = at + 2 + length;
    if (length < 2 || end > n) return undefined;
    const segment = bytes.subarray(start, end);
    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) {
      // Huffman-coded baseline, extended or progressive: 8-bit, grey or three components.
      if (segment.length < 6 || segment[0] !== 8 || (segment[5] !== 1 && segment[5] !== 3)) {
        return undefined;
      }
      size = { height: (segment[1] << 8) | segment[2], width: (segment[3] << 8) | segment[4] };
      if (size.width === 0 || size.height === 0) return undefined;
    } else if (marker >= 0xc3 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xcc) {
      return undefined; // lossless, hierarchical or arithmetic-coded
    } else if (marker === 0xe1 && startsWith(segment, "Exif\0\0")) {
      if (exifOrientation(segment.subarray(6)) !== 1) return undefined;
    } else if (marker === 0xe2 && startsWith(segment, "ICC_PROFILE\0")) {
      return undefined; // sharp converts through the profile
    } else if (marker === 0xee && startsWith(segment, "Adobe")) {
      return undefined; // Adobe's colour transforms (CMYK, YCCK)
    }
    at = end;
  }
  return undefined;
}

function startsWith(bytes: Uint8Array, text: string): boolean {
  if (bytes.length < text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The EXIF orientation tag of IFD0 (1 when absent), or undefined when the TIFF block is damaged. */
export function exifOrientation(tiff: Uint8Array): number | undefined {
  if (tiff.length < 8) return undefined;
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return undefined;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return undefined;
  const count = view.getUint16(ifd, little);
  if (ifd + 2 + count * 12 > tiff.length) return undefined;
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (view.getUint16(entry, little) === 0x0112) return view.getUint16(entry + 8, little);
  }
  return 1;
}
