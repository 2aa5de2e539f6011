/**
 * Input-pipeline throughput: augmented, scaled 224x224 samples per second from the decoded-image
 * cache, per stage policy, made on the main thread and through the prefetch worker.
 *
 *   deno task bench:augment [--data ../shared/data/imagewoof/train] [--batches 20]
 */
import { parseArgs } from "node:util";
import {
  inlineStream,
  poolStream,
  type StreamConfig,
  workerStream,
} from "../lib/augment/pipeline.ts";
import type { PolicyName } from "../lib/augment/policy.ts";
import { cacheImages } from "../lib/data/cache.ts";
import { LabelMap } from "../lib/data/labels.ts";
import { samplePhotos } from "./common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string", default: "../shared/data/imagewoof/train" },
    photos: { type: "string", default: "2000" },
    batches: { type: "string", default: "20" },
    size: { type: "string", default: "224" },
  },
});
const size = Number(values.size);
const batches = Number(values.batches);
const items = await samplePhotos(Number(values.photos), values.data);
const cache = await cacheImages(items, { size });
const labels = LabelMap.fromLabels(items.map((i) => i.label));
const configs = (["Train_DA", "Train"] as PolicyName[]).map((policy) =>
  poolStream(cache, items, labels, { policy, seed: 0, batchSize: 32 })
);
cache.close();

async function rate(config: StreamConfig, worker: boolean): Promise<number> {
  const stream = worker ? workerStream(config, 0, 3) : inlineStream(config, 0);
  await stream.next(); // warm-up (worker start, JIT)
  const start = performance.now();
  for (let i = 0; i < batches; i++) await stream.next();
  const seconds = (performance.now() - start) / 1000;
  stream.close();
  return (batches * 32) / seconds;
}

console.log(
  `${items.length} cached photos, ${size}x${size}, batch 32, ${batches} batches per cell`,
);
console.log("| policy | main thread samples/s | prefetch worker samples/s |\n|---|---|---|");
for (const config of configs) {
  console.log(
    `| ${config.policy} | ${(await rate(config, false)).toFixed(0)} | ${
      (await rate(config, true)).toFixed(0)
    } |`,
  );
}
