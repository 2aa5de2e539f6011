/**
 * The fast decoder against sharp: which JPEGs it may take, that libjpeg-turbo's pixels are sharp's
 * on those (every JPEG variant sharp writes, and real photos), that the seed's square is the
 * augmentation's own crop and resize, and that a cache built through the pool, or without
 * libjpeg-turbo, holds what sharp alone decodes. CI installs libturbojpeg0 (`.ci/setup`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp, { type JpegOptions, type Sharp } from "sharp";
import { crop, resize } from "@/augment/ops.ts";
import { cacheImages } from "@/data/cache.ts";
import { DecodePool } from "@/data/decode_pool.ts";
import { decodeImage, loadImage } from "@/data/image.ts";
import { exifOrientation, plainJpeg } from "@/data/jpeg_header.ts";
import { squareNearest } from "@/data/square.ts";
import { openTurboJpeg, type TurboJpeg } from "@/data/turbojpeg.ts";
import { Rng } from "@/rng.ts";
import { SHARED_IMAGEWOOF, tempDir } from "../fixtures.ts";

/** A photo-like test card: smooth gradients, edges and noise, so every decoder stage matters. */
function card(width: number, height: number, seed = 1): Uint8Array {
  const rng = new Rng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / width;
      data[i + 1] = ((x + y) % 37) * 6 + rng.int(20);
      data[i + 2] = y < height / 2 ? 240 : rng.int(256);
    }
  }
  return data;
}

const raw = (w: number, h: number, seed?: number) =>
  sharp(card(w, h, seed), { raw: { width: w, height: h, channels: 3 } });
const bytesOf = (b: Uint8Array) => new Uint8Array(b);

/** The JPEG with every segment of one marker cut out (before the first scan). */
function withoutSegment(bytes: Uint8Array, marker: number): Uint8Array {
  const kept = [bytes.subarray(0, 2)];
  let at = 2;
  while (bytes[at + 1] !== 0xda) {
    const end = at + 2 + ((bytes[at + 2] << 8) | bytes[at + 3]);
    if (bytes[at + 1] !== marker) kept.push(bytes.subarray(at, end));
    at = end;
  }
  kept.push(bytes.subarray(at));
  const out = new Uint8Array(kept.reduce((n, part) => n + part.length, 0));
  kept.reduce((offset, part) => (out.set(part, offset), offset + part.length), 0);
  return out;
}

/** The JPEG variants sharp (mozjpeg) writes, what the header scan must say of each, and whether
 * libjpeg-turbo then decodes it without a warning. */
async function variants(): Promise<
  { name: string; bytes: Uint8Array; plain: boolean; clean?: false }[]
> {
  const jpeg = (s: Sharp, options: JpegOptions = {}) =>
    s.jpeg({ quality: 85, ...options }).toBuffer().then(bytesOf);
  const base = await jpeg(raw(61, 47));
  // Damaged entropy data with its end marker: a stray restart marker, which libjpeg warns of and
  // gets past; sharp accepts such a photo.
  const damaged = base.slice();
  damaged.set([0xff, 0xd3], damaged.length - 100);
  return [
    { name: "baseline 4:2:0", bytes: base, plain: true },
    { name: "damaged, recoverable", bytes: damaged, plain: true, clean: false },
    { name: "4:4:4", bytes: await jpeg(raw(61, 47), { chromaSubsampling: "4:4:4" }), plain: true },
    { name: "progressive", bytes: await jpeg(raw(64, 40), { progressive: true }), plain: true },
    {
      name: "optimised Huffman, trellis",
      bytes: await jpeg(raw(33, 90), { optimiseCoding: true, trellisQuantisation: true }),
      plain: true,
    },
    { name: "greyscale", bytes: await jpeg(raw(50, 30).greyscale()), plain: true },
    {
      name: "EXIF orientation 1",
      bytes: await jpeg(raw(40, 30).withExif({ IFD0: { Orientation: "1", Make: "test" } })),
      plain: true,
    },
    {
      // sharp writes an orientation only beside an sRGB profile: the profile is cut out, so that
      // the orientation alone makes the file not plain.
      name: "EXIF orientation 6",
      bytes: withoutSegment(await jpeg(raw(40, 30).withMetadata({ orientation: 6 })), 0xe2),
      plain: false,
    },
    { name: "ICC profile", bytes: await jpeg(raw(40, 30).withIccProfile("p3")), plain: false },
    // sharp's withMetadata embeds an sRGB profile, which sharp then converts through: not plain.
    { name: "sRGB profile", bytes: await jpeg(raw(40, 30).withMetadata()), plain: false },
    { name: "CMYK", bytes: await jpeg(raw(40, 30).toColourspace("cmyk")), plain: false },
    { name: "truncated", bytes: base.subarray(0, base.length - 100), plain: false },
    { name: "PNG", bytes: bytesOf(await raw(40, 30).png().toBuffer()), plain: false },
    { name: "empty", bytes: new Uint8Array(0), plain: false },
  ];
}

Deno.test("fast decode: the header scan takes plain JPEGs and leaves the rest to sharp", async () => {
  for (const { name, bytes, plain } of await variants()) {
    assert.equal(plainJpeg(bytes) !== undefined, plain, name);
  }
  const info = plainJpeg((await variants())[0].bytes);
  assert.deepEqual(info, { width: 61, height: 47 });
  // EXIF's TIFF block, both byte orders; no orientation tag reads as 1.
  const tiff = (little: boolean, tag: number, value: number) => {
    const b = new DataView(new ArrayBuffer(26));
    b.setUint16(0, little ? 0x4949 : 0x4d4d);
    b.setUint16(2, 42, little);
    b.setUint32(4, 8, little);
    b.setUint16(8, 1, little);
    b.setUint16(10, tag, little);
    b.setUint16(12, 3, little);
    b.setUint32(14, 1, little);
    b.setUint16(18, value, little);
    return new Uint8Array(b.buffer);
  };
  assert.equal(exifOrientation(tiff(true, 0x0112, 8)), 8);
  assert.equal(exifOrientation(tiff(false, 0x0112, 3)), 3);
  assert.equal(exifOrientation(tiff(true, 0x010f, 3)), 1);
  assert.equal(exifOrientation(tiff(true, 0x0112, 8).subarray(0, 12)), undefined);
});

function turbo(): TurboJpeg {
  const opened = openTurboJpeg();
  if (typeof opened === "string") throw new Error(`libjpeg-turbo: ${opened}`);
  return opened;
}

Deno.test("fast decode: on every plain variant libjpeg-turbo's pixels are sharp's", async () => {
  const decoder = turbo();
  for (const { name, bytes, plain, clean } of await variants()) {
    if (!plain) continue;
    const { data, info } = await sharp(bytes, { failOn: "truncated" }).toColourspace("srgb").raw()
      .toBuffer({ resolveWithObject: true });
    const image = decoder.decode(bytes);
    if (clean === false) {
      // libjpeg warns: handed back, and sharp decodes it.
      assert.equal(image, undefined, name);
      continue;
    }
    assert.ok(image, name);
    assert.deepEqual([image.width, image.height], [info.width, info.height], name);
    const at = data.findIndex((v, i) => v !== image.data[i]);
    assert.equal(at, -1, `${name}: first difference at byte ${at}`);
  }
  decoder.close();
});

Deno.test("fast decode: the seed's square is the augmentation's centre crop then nearest resize", () => {
  for (
    const [w, h, size] of [[30, 10, 5], [10, 31, 7], [500, 375, 224], [224, 224, 224], [9, 9, 20]]
  ) {
    const img = { width: w, height: h, data: card(w, h, w + h) };
    const side = Math.min(w, h);
    const cut = Math.floor(Math.abs(w - h) / 2);
    const expected = resize(crop(img, w > h ? cut : 0, h > w ? cut : 0, side), size, size);
    assert.deepEqual(squareNearest(img, size).data, expected.data, `${w}x${h} -> ${size}`);
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) rgba.set(img.data.subarray(i * 3, i * 3 + 3), i * 4);
    assert.deepEqual(
      squareNearest({ width: w, height: h, data: rgba }, size, 4).data,
      expected.data,
    );
  }
  // Pillow 9.4's `crop(centre square).resize((224, 224), NEAREST)` of a 500x375 photo starts with
  // source columns 62, 64, 66, 67 (sharp's cover fit took 64, 65, 67, 69): each pixel holds its x.
  const columns = new Uint8Array(500 * 375 * 3).map((_, i) => Math.floor(i / 3) % 500);
  const first = squareNearest({ width: 500, height: 375, data: columns }, 224).data;
  assert.deepEqual([0, 1, 2, 3].map((x) => first[x * 3]), [62, 64, 66, 67]);
  // A 224 px photo is left as it is.
  const same = { width: 224, height: 224, data: card(224, 224) };
  assert.deepEqual(squareNearest(same, 224).data, same.data);
  // Into a given frame, of the right size only.
  const into = new Uint8Array(224 * 224 * 3);
  assert.equal(squareNearest(same, 224, 3, into).data, into);
  assert.deepEqual(into, same.data);
  assert.throws(() => squareNearest(same, 224, 3, new Uint8Array(10)), RangeError);
});

Deno.test("fast decode: the pool decodes plain JPEGs and hands the rest back; cache = sharp alone", async () => {
  const dir = await tempDir();
  const items: { id: string; path: string }[] = [];
  const cards = await variants();
  for (const { name, bytes } of cards) {
    const path = join(dir, `${name.replaceAll(/\W+/g, "_")}.jpg`);
    await Deno.writeFile(path, bytes);
    items.push({ id: name, path });
  }
  // Real photos too, and a large one: the pool must not only work on test cards.
  const breed = join(SHARED_IMAGEWOOF, "n02088364");
  for (const entry of [...Deno.readDirSync(breed)].map((e) => e.name).sort().slice(0, 24)) {
    items.push({ id: entry, path: join(breed, entry) });
  }
  const large = join(dir, "large.jpg");
  await Deno.writeFile(large, bytesOf(await raw(640, 427, 9).jpeg({ quality: 92 }).toBuffer()));
  items.push({ id: "large", path: large });

  const pool = new DecodePool(2);
  const frames = await Promise.all(items.map((item) => pool.decode(item.path, 224)));
  const clean = cards.filter((c) => c.plain && c.clean !== false).length;
  assert.equal(pool.unavailable, undefined);
  assert.equal(pool.counts.decoded, clean + 24 + 1, "every plain JPEG decoded in the pool");
  assert.equal(pool.counts.handedBack, cards.length - clean);
  for (const [i, frame] of frames.entries()) {
    if (!frame) continue;
    const sharpAlone = await decodeImage(await Deno.readFile(items[i].path), { size: 224 });
    assert.ok(frame.every((v, j) => v === sharpAlone.data[j]), `${items[i].id}: the pool's frame`);
  }
  // Each frame handed back is decoded into (no fresh buffer): the same pixels.
  let spare: Uint8Array | undefined;
  const real = items.slice(cards.length);
  for (const [i, item] of real.entries()) {
    spare = await pool.decode(item.path, 224, spare);
    assert.deepEqual(spare, frames[cards.length + i], `${item.id}: decoded into a spare frame`);
  }
  assert.equal(pool.counts.reused, real.length - 1, "every frame after the first was a spare");
  const view = new Uint8Array(2 * 224 * 224 * 3).subarray(0, 224 * 224 * 3);
  await pool.decode(large, 224, view);
  assert.equal(view.length, 224 * 224 * 3, "a view of a larger buffer is not taken");
  pool.close();
  assert.equal(await pool.decode(large, 224), undefined, "a closed pool hands everything back");

  // The cache through the pool, and without libjpeg-turbo: the same frames as sharp alone.
  const lines: string[] = [];
  const build = (dir: string) =>
    cacheImages(items, { size: 32, dir, onDecoded: (l) => lines.push(l) });
  const cache = await build(join(dir, "cache"));
  assert.match(
    lines[0],
    /^decoded 39 photos in [\d.]+ s: 31 by libjpeg-turbo on 2 workers, 8 by sharp$/,
  );
  Deno.env.set("DOGS_DECODER", "sharp");
  let alone;
  try {
    alone = await build(join(dir, "cache-sharp"));
  } finally {
    Deno.env.delete("DOGS_DECODER");
  }
  assert.match(
    lines[1],
    /: 0 by libjpeg-turbo on 2 workers, 39 by sharp \(libjpeg-turbo: turned off/,
  );
  const unreadable = ["truncated", "empty"].map((id) => items.find((i) => i.id === id)!.path);
  assert.deepEqual(cache.skipped.map((s) => s.path), unreadable.sort());
  assert.deepEqual(alone.ids, cache.ids);
  for (const id of cache.ids) {
    const direct = await loadImage(items.find((item) => item.id === id)!.path, { size: 32 });
    assert.deepEqual(cache.read(id).data, direct.data, id);
    assert.deepEqual(alone.read(id).data, direct.data, id);
  }
  for (const c of [cache, alone]) c.close();
  await Deno.remove(dir, { recursive: true });
});
