/**
 * Decode throughput, side by side in one run: JPEG -> the seed's 224x224 square with sharp alone
 * (4 photos in flight) against the decode pool the cache builds with (plain JPEGs by libjpeg-turbo
 * on every core, the rest by sharp), and reading the same photos from the decoded-image cache. The photos as they are (ImageWoof's are 224 px already) and re-encoded at 500x375, the
 * size of a typical Stanford Dogs or Baidu photo. Prints medians over repeats and the ratios.
 *
 *   deno task bench:decode [--data ../shared/data/imagewoof/train] [--n 1000] [--repeats 3]
 */
import { join } from "node:path";
import sharp from "sharp";
import { cacheImages } from "../lib/data/cache.ts";
import { benchArgs, count, median, poolRate, samplePhotos, sharpRate } from "./common.ts";
import { checkIdle, describeIdle, watchOthers } from "./idle.ts";

const HELP = `Usage: deno task bench:decode [--data DIR] [--n N] [--repeats N] [--size PX]

Decoding to the seed's square, side by side: sharp alone against the decode pool (libjpeg-turbo
on every core), and reading the decoded-photo cache; the photos as they are and at 500x375.

  --data DIR     dataset (default ../shared/data/imagewoof/train)
  --n N          photos (default 1000)
  --repeats N    repeats, medians printed (default 3)
  --size PX      frame side (default 224)`;

const { values } = benchArgs(HELP, {
  data: { type: "string", default: "../shared/data/imagewoof/train" },
  n: { type: "string", default: "1000" },
  repeats: { type: "string", default: "3" },
  size: { type: "string", default: "224" },
});
const size = count("size", values.size, 8);
const photos = count("n", values.n);
const repeatCount = count("repeats", values.repeats);
// Checked before the photos are re-encoded, which loads the machine itself.
const idleBefore = await checkIdle();
const others = await watchOthers();
const items = await samplePhotos(photos, values.data);
const scratch = await Deno.makeTempDir({ prefix: "bench-decode-" });
const large = await Promise.all(items.map(async (item, i) => {
  const path = join(scratch, `${i}.jpg`);
  await sharp(item.path).resize(500, 375, { fit: "fill" }).jpeg({ quality: 90 }).toFile(path);
  return { id: item.id, path };
}));
const cacheDir = join(scratch, "cache");
(await cacheImages(items, { size, dir: cacheDir })).close(); // built once, untimed

async function cacheRate(): Promise<number> {
  const start = performance.now();
  const cache = await cacheImages(items, { size, dir: cacheDir });
  if (!cache.reused) throw new Error("cache was rebuilt during the timed read");
  const frame = new Uint8Array(cache.frameBytes);
  let checksum = 0;
  for (const item of items) checksum += cache.read(item.id, frame).data[0];
  cache.close();
  if (checksum < 0) throw new Error("unreachable");
  return items.length / ((performance.now() - start) / 1000);
}

const rates = { sharp: [] as number[], pool: [] as number[], sharpLarge: [] as number[] };
const more = { poolLarge: [] as number[], cache: [] as number[] };
for (let r = 0; r < repeatCount; r++) {
  rates.sharp.push(await sharpRate(items, size));
  rates.pool.push(await poolRate(items, size));
  rates.sharpLarge.push(await sharpRate(large, size));
  more.poolLarge.push(await poolRate(large, size));
  more.cache.push(await cacheRate());
}
const idle = describeIdle(idleBefore, await others.stop());
await Deno.remove(scratch, { recursive: true });

const m = (xs: number[]) => median(xs).toFixed(0);
console.log(
  `photos: ${items.length} from ${values.data}, to ${size}x${size} RGB, repeats ${values.repeats}`,
);
console.log("| path | as they are, images/s | at 500x375, images/s |\n|---|---|---|");
console.log(`| sharp alone (4 in flight) | ${m(rates.sharp)} | ${m(rates.sharpLarge)} |`);
console.log(
  `| decode pool (libjpeg-turbo per core, sharp for the rest) | ${m(rates.pool)} | ${
    m(more.poolLarge)
  } |`,
);
console.log(
  `| decoded-image cache (validity check + positioned frame reads) | ${m(more.cache)} | |`,
);
console.log(
  `pool / sharp: ${(median(rates.pool) / median(rates.sharp)).toFixed(2)}x as they are, ${
    (median(more.poolLarge) / median(rates.sharpLarge)).toFixed(2)
  }x at 500x375; cache / pool: ${(median(more.cache) / median(rates.pool)).toFixed(1)}x`,
);
console.log(idle.line);
if (!idle.valid) console.log("the machine was not idle: run again before quoting the ratios");
