import assert from "node:assert/strict";
import sharp from "sharp";
import { join } from "node:path";
import { decodeImage, loadImage } from "@/data/image.ts";
import { DataError } from "@/errors.ts";
import { SHARED_IMAGEWOOF, solidJpeg, tempDir } from "../fixtures.ts";

const px = (img: { width: number; data: Uint8Array }, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
const near = (a: number[], b: number[], tol = 6) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

Deno.test("decode: square center crop then nearest resize keeps the middle, drops the sides", async () => {
  // 30x10: left third red, middle third green, right third blue -> center crop is all green.
  const data = new Uint8Array(30 * 10 * 3);
  for (let y = 0; y < 10; y++) {
    for (let x = 0; x < 30; x++) {
      data.set(x < 10 ? [255, 0, 0] : x < 20 ? [0, 255, 0] : [0, 0, 255], (y * 30 + x) * 3);
    }
  }
  const png = await sharp(data, { raw: { width: 30, height: 10, channels: 3 } }).png().toBuffer();
  const img = await decodeImage(new Uint8Array(png), { size: 5 });
  assert.equal(img.width, 5);
  assert.equal(img.data.length, 75);
  for (let i = 0; i < 25; i++) {
    assert.deepEqual(Array.from(img.data.subarray(i * 3, i * 3 + 3)), [0, 255, 0]);
  }
  const full = await decodeImage(new Uint8Array(png));
  assert.equal(full.width, 30);
  assert.equal(full.height, 10);
});

Deno.test("decode: EXIF orientation is applied", async () => {
  // Stored 20x10 red|blue; orientation 6 means "rotate 90 degrees clockwise to view".
  const jpeg = await sharp(await solidJpeg(20, 10, [255, 0, 0], [0, 0, 255]))
    .withMetadata({ orientation: 6 }).jpeg({ quality: 100 }).toBuffer();
  const img = await decodeImage(new Uint8Array(jpeg));
  assert.equal(img.width, 10);
  assert.equal(img.height, 20);
  assert.ok(near(px(img, 5, 2), [255, 0, 0]), `top is red: ${px(img, 5, 2)}`);
  assert.ok(near(px(img, 5, 17), [0, 0, 255]), `bottom is blue: ${px(img, 5, 17)}`);
});

Deno.test("decode: greyscale, CMYK, 16-bit and alpha inputs all become 8-bit RGB", async () => {
  const base = sharp(await solidJpeg(8, 8, [200, 100, 50]));
  const inputs = {
    grey: await base.clone().greyscale().png().toBuffer(),
    // A muted colour: CMYK without an embedded profile round-trips it within a few levels.
    cmyk: await sharp(await solidJpeg(8, 8, [150, 120, 100])).toColourspace("cmyk").jpeg()
      .toBuffer(),
    rgb16: await base.clone().toColourspace("rgb16").png().toBuffer(),
    alpha: await sharp({
      create: { width: 8, height: 8, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png().toBuffer(),
  };
  assert.equal((await sharp(inputs.rgb16).metadata()).depth, "ushort");
  assert.equal((await sharp(inputs.cmyk).metadata()).space, "cmyk");
  for (const [name, bytes] of Object.entries(inputs)) {
    const img = await decodeImage(new Uint8Array(bytes), { size: 4 }, name);
    assert.equal(img.data.length, 4 * 4 * 3, name);
    assert.ok(img.data instanceof Uint8Array, name);
  }
  const grey = await decodeImage(new Uint8Array(inputs.grey));
  const [r, g, b] = px(grey, 0, 0);
  assert.ok(r === g && g === b, "grey stays grey in RGB");
  assert.ok(
    near(px(await decodeImage(new Uint8Array(inputs.rgb16)), 0, 0), [200, 100, 50]),
    "16-bit scaled to 8",
  );
  assert.deepEqual(
    px(await decodeImage(new Uint8Array(inputs.alpha)), 0, 0),
    [255, 255, 255],
    "transparent -> white",
  );
  assert.ok(
    near(px(await decodeImage(new Uint8Array(inputs.cmyk)), 0, 0), [150, 120, 100], 12),
    "CMYK -> RGB",
  );
});

Deno.test("decode: truncated, empty, non-image and missing files are errors naming the file", async () => {
  const dir = await tempDir();
  const good = await solidJpeg(64, 64, [9, 9, 9]);
  const cases: [string, Uint8Array | string | null, RegExp][] = [
    [
      "truncated.jpg",
      good.subarray(0, Math.floor(good.length / 2)),
      /truncated\.jpg: cannot decode image/,
    ],
    ["empty.jpg", new Uint8Array(), /empty\.jpg: empty file \(0 bytes\)/],
    ["text.jpg", "this is not a photo", /text\.jpg: cannot decode image/],
    ["missing.jpg", null, /missing\.jpg: file not found/],
  ];
  for (const [name, content, expected] of cases) {
    const path = join(dir, name);
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else if (content) await Deno.writeFile(path, content);
    await assert.rejects(loadImage(path, { size: 8 }), (e: Error) => {
      assert.ok(e instanceof DataError, name);
      assert.match(e.message, expected);
      return true;
    });
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("decode: a real ImageWoof photo at 224, nearest and bilinear differ", async () => {
  const dir = join(SHARED_IMAGEWOOF, "n02099601");
  const first = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort()[0];
  const nearest = await loadImage(join(dir, first), { size: 100 });
  const bilinear = await loadImage(join(dir, first), { size: 100, interpolation: "bilinear" });
  assert.equal(nearest.data.length, 100 * 100 * 3);
  assert.notDeepEqual(nearest.data, bilinear.data);
});
