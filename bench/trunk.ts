/**
 * Frozen-trunk throughput (the CPU path's bottleneck), side by side in one run: the main thread
 * alone (augmentation in a prefetch worker) against one tfjs wasm worker per core. MobileNetV2-0.35
 * at 224, Train_DA batches of 32, trunk = everything below block_15.
 *
 *   deno task bench:trunk [--batches 12] [--repeats 3]
 */
import { parseArgs } from "node:util";
import { initBackend } from "../lib/tf.ts";
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
await initBackend();
const items = await samplePhotos(1500);
const cache = await cacheImages(items, { size: 224 });
const labels = LabelMap.fromLabels(items.map((i) => i.label));
const config = poolStream(cache, items, labels, { policy: "Train_DA", seed: 0, batchSize: 32 });
const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35 });
await loadPretrained(backbone, defaultWeights());
const folded = foldModel(splitBackbone(backbone).trunk);
const shape = folded.outputShape;
const workers = navigator.hardwareConcurrency || 2;
const pool = mobileNetTrunkPool(cache, backbone.spec.unfreezeFromStage, workers);
await pool.stream(config, workers, shape); // warm-up: worker start, weights, JIT

const single: number[] = [];
const parallel: number[] = [];
for (let r = 0; r < Number(values.repeats); r++) {
  let t = performance.now();
  const stream = workerStream(config, 0);
  await activationsOfStream(folded, stream, batches);
  stream.close();
  single.push((batches * 32) / ((performance.now() - t) / 1000));
  t = performance.now();
  await pool.stream(config, batches, shape);
  parallel.push((batches * 32) / ((performance.now() - t) / 1000));
}
pool.close();
console.log(
  `trunk of MobileNetV2-0.35 at 224, ${batches} Train_DA batches of 32 per measurement, median of ${values.repeats}`,
);
console.log("| path | images/s |\n|---|---|");
console.log(`| main thread (augmentation prefetched in a worker) | ${median(single).toFixed(1)} |`);
console.log(
  `| ${workers} trunk workers (augmentation inside each) | ${median(parallel).toFixed(1)} |`,
);
console.log(`workers / main thread: ${(median(parallel) / median(single)).toFixed(2)}x`);
