/**
 * Photo decoding with sharp (libvips): whatever a user's folder holds — EXIF-rotated phone
 * photos, greyscale, CMYK, 16-bit or transparent PNGs — comes out as 8-bit RGB, HWC, the one
 * format the augmentations and the model take.
 */
import sharp from "sharp";
import { DataError } from "../errors.ts";
import { squareNearest } from "./square.ts";

/** 8-bit RGB pixels, row-major, channels last (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Resampling kernels; the seed resizes nearest-neighbour. */
export type Interpolation = "nearest" | "bilinear" | "cubic" | "lanczos3";

export interface LoadOptions {
  /** Square side after center crop and resize; omitted: the photo at its own size, uncropped. */
  size?: number;
  interpolation?: Interpolation;
}

const SHARP_KERNEL = {
  nearest: "nearest",
  bilinear: "linear",
  cubic: "cubic",
  lanczos3: "lanczos3",
} as const;

/** Decodes one photo; a corrupt, truncated or non-image file is a DataError naming it. */
export async function loadImage(path: string, options: LoadOptions = {}): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new DataError(path, "file not found");
    throw new DataError(path, `cannot read: ${(error as Error).message}`);
  }
  return decodeImage(bytes, options, path);
}

/** Decodes encoded bytes (JPEG, PNG, WebP, ...); `source` names them in errors. */
export async function decodeImage(
  bytes: Uint8Array,
  { size, interpolation = "nearest" }: LoadOptions = {},
  source = "<bytes>",
): Promise<RgbImage> {
  if (bytes.length === 0) throw new DataError(source, "empty file (0 bytes)");
  try {
    // failOn "truncated" rejects cut-off files but accepts the harmless warnings real JPEGs carry.
    let pipeline = sharp(bytes, { failOn: "truncated" })
      .rotate() // EXIF orientation
      .flatten({ background: "#ffffff" }) // alpha composited on white, like a browser shows it
      .toColourspace("srgb"); // grey / CMYK / 16-bit -> 8-bit sRGB
    // The seed's centre square and nearest resize are ours (`square.ts`), the same arithmetic the
    // decode workers run; the other kernels resize in libvips.
    const square = size !== undefined && interpolation === "nearest";
    if (size !== undefined && !square) {
      pipeline = pipeline.resize(size, size, {
        fit: "cover", // square center crop, then resize
        position: "centre",
        kernel: SHARP_KERNEL[interpolation],
      });
    }
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    const image = {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
    return square ? squareNearest(image, size) : image;
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw new DataError(source, `cannot decode image: ${(error as Error).message}`);
  }
}

/** A JPEG of the image: photos in notebook outputs are ~5x smaller than as PNG, at a quality
 * where the nearest-neighbour edges of the augmentations still read. */
export async function encodeJpeg(image: RgbImage, quality = 90): Promise<Uint8Array> {
  const buffer = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
  }).jpeg({ quality }).toBuffer();
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

export async function encodePng(image: RgbImage): Promise<Uint8Array> {
  const buffer = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
  }).png().toBuffer();
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
