/**
 * Decode throughput, side by side in one run: JPEG -> 224x224 RGB with sharp (center crop,
 * nearest resize, 4 photos in flight) against reading the same photos from the decoded-image
 * cache. Prints medians over repeats and the ratio.
 *
 *   deno task bench:decode [--data ../shared/data/imagewoof/train] [--n 1000] [--repeats 3]
 */
import { parseArgs } from "node:util";
import { cacheImages } from "../lib/data/cache.ts";
import { median, samplePhotos, sharpRate } from "./common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string", default: "../shared/data/imagewoof/train" },
    n: { type: "string", default: "1000" },
    repeats: { type: "string", default: "3" },
    size: { type: "string", default: "224" },
  },
});
const size = Number(values.size);
const items = await samplePhotos(Number(values.n), values.data);
const cacheDir = await Deno.makeTempDir({ prefix: "bench-cache-" });
(await cacheImages(items, { size, dir: cacheDir })).close(); // build once, untimed

async function timeCache(): Promise<number> {
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

const sharpRates: number[] = [];
const cacheRates: number[] = [];
for (let r = 0; r < Number(values.repeats); r++) {
  sharpRates.push(await sharpRate(items, size));
  cacheRates.push(await timeCache());
}
await Deno.remove(cacheDir, { recursive: true });

const s = median(sharpRates);
const c = median(cacheRates);
console.log(
  `photos: ${items.length} from ${values.data}, ${size}x${size} RGB, repeats ${values.repeats}`,
);
console.log("| path | images/s (median) |\n|---|---|");
console.log(`| sharp decode + center crop + nearest resize (4 in flight) | ${s.toFixed(0)} |`);
console.log(`| decoded-image cache (validity check + positioned frame reads) | ${c.toFixed(0)} |`);
console.log(`cache / sharp: ${(c / s).toFixed(1)}x`);
