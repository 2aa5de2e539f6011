/**
 * Frozen-trunk throughput (the CPU path's bottleneck) for each way of splitting the cores, side by
 * side in one run: the main thread on its wasm threads (augmentation in a prefetch worker), one
 * single-threaded trunk worker per core (augmentation inside each), and one worker on every
 * thread. MobileNetV2-0.35 at 224, Train_DA batches of 32, trunk = everything below block_15.
 *
 *   deno task bench:trunk [--batches 12] [--repeats 3]
 */
import { parseArgs } from "node:util";
import { initBackend } from "../lib/engine/tf.ts";
import { buildBackbone, loadPretrained, splitBackbone } from "../lib/model/index.ts";
import { cacheImages } from "../lib/data/cache.ts";
import { LabelMap } from "../lib/data/labels.ts";
import { poolStream, workerStream } from "../lib/augment/pipeline.ts";
import { foldModel } from "../lib/model/fold.ts";
import { activationsOfStream } from "../lib/train/features.ts";
import { defaultWeights } from "../lib/paths.ts";
import { median, mobileNetTrunkPool, samplePhotos } from "./common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    batches: { type: "string", default: "12" },
    repeats: { type: "string", default: "3" },
  },
});
const batches = Number(values.batches);
const choice = await initBackend();
const items = await samplePhotos(1500);
const cache = await cacheImages(items, { size: 224 });
const labels = LabelMap.fromLabels(items.map((i) => i.label));
const config = poolStream(cache, items, labels, { policy: "Train_DA", seed: 0, batchSize: 32 });
const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35 });
await loadPretrained(backbone, defaultWeights());
const folded = foldModel(splitBackbone(backbone).trunk);
const shape = folded.outputShape;
const cores = navigator.hardwareConcurrency || 2;
const splits = [
  { workers: cores, threads: 1 },
  ...(cores > 1 ? [{ workers: 1, threads: cores }] : []),
].map((split) => ({
  ...split,
  pool: mobileNetTrunkPool(cache, backbone.spec.unfreezeFromStage, split.workers, split.threads),
  rates: [] as number[],
}));
// Warm-up: worker start, weights, JIT.
for (const split of splits) await split.pool.stream(config, split.workers, shape);

const single: number[] = [];
for (let r = 0; r < Number(values.repeats); r++) {
  const t = performance.now();
  const stream = workerStream(config, 0);
  await activationsOfStream(folded, stream, batches);
  stream.close();
  single.push((batches * 32) / ((performance.now() - t) / 1000));
  for (const split of splits) {
    const start = performance.now();
    await split.pool.stream(config, batches, shape);
    split.rates.push((batches * 32) / ((performance.now() - start) / 1000));
  }
}
for (const split of splits) split.pool.close();
console.log(
  `trunk of MobileNetV2-0.35 at 224, ${batches} Train_DA batches of 32 per measurement, median of ${values.repeats}`,
);
console.log("| cores split as | images/s |\n|---|---|");
console.log(
  `| main thread on ${choice.threads} wasm thread(s), augmentation prefetched in a worker | ${
    median(single).toFixed(1)
  } |`,
);
for (const split of splits) {
  console.log(
    `| ${split.workers} trunk worker(s) x ${split.threads} thread(s), augmentation inside each | ${
      median(split.rates).toFixed(1)
    } |`,
  );
}
