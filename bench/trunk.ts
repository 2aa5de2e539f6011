/**
 * Frozen-trunk throughput (the CPU path's bottleneck) for each engine and each way of splitting
 * the cores, side by side in one run: the main thread on every core (augmentation prefetched in a
 * worker), one single-threaded trunk worker per core (augmentation inside each), and one worker on
 * every core; on tfjs' wasm and on ONNX Runtime. MobileNetV2-0.35 at 224, Train_DA batches of 32,
 * trunk = everything below block_15. Checks that the machine is idle first (bench/idle.ts).
 *
 *   deno task bench:trunk [--batches 12] [--repeats 3]
 */
import { initBackend } from "../lib/engine/tf.ts";
import { buildBackbone, loadPretrained, splitBackbone } from "../lib/model/index.ts";
import { cacheImages } from "../lib/data/cache.ts";
import { LabelMap } from "../lib/data/labels.ts";
import { poolStream, workerStream } from "../lib/augment/pipeline.ts";
import { foldModel } from "../lib/model/fold.ts";
import { type BatchRunner, onnxRunner, tfjsRunner } from "../lib/model/runner.ts";
import { toOnnx } from "../lib/model/onnx.ts";
import { activationsOfStream } from "../lib/train/features.ts";
import { defaultWeights } from "../lib/paths.ts";
import { benchArgs, count, median, mobileNetTrunkPool, samplePhotos } from "./common.ts";
import { checkIdle, describeIdle, watchOthers } from "./idle.ts";

const HELP = `Usage: deno task bench:trunk [--batches N] [--repeats N]

Frozen-trunk throughput for each engine (tfjs wasm, ONNX Runtime) and each way of splitting the
cores (main thread, one worker per core, one worker on every core), side by side; idle-checked.

  --batches N    Train_DA batches of 32 per measurement (default 12)
  --repeats N    repeats, medians printed (default 3)`;

const { values } = benchArgs(HELP, {
  batches: { type: "string", default: "12" },
  repeats: { type: "string", default: "3" },
});
const batches = count("batches", values.batches);
const repeatCount = count("repeats", values.repeats);
const idleBefore = await checkIdle();
const others = await watchOthers();
const choice = await initBackend();
const items = await samplePhotos(1500);
const cache = await cacheImages(items, { size: 224 });
const labels = LabelMap.fromLabels(items.map((i) => i.label));
const config = poolStream(cache, items, labels, { policy: "Train_DA", seed: 0, batchSize: 32 });
const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35 });
await loadPretrained(backbone, defaultWeights());
const trunk = splitBackbone(backbone).trunk;
const folded = foldModel(trunk);
const shape = folded.outputShape;
const onnx = await toOnnx([trunk], { planarInput: true });
const cores = navigator.hardwareConcurrency || 2;

interface Way {
  name: string;
  measure(): Promise<void>;
  rates: number[];
}
const ways: Way[] = [];
const mainThread = (name: string, runner: BatchRunner): Way => ({
  name,
  rates: [],
  async measure() {
    const stream = workerStream(config, 0);
    const t = performance.now();
    await activationsOfStream(runner, stream, batches);
    stream.close();
    this.rates.push((batches * 32) / ((performance.now() - t) / 1000));
  },
});
ways.push(mainThread(
  `tfjs wasm, main thread on ${choice.threads} thread(s), augmentation prefetched in a worker`,
  tfjsRunner(folded, [224, 224, 3]),
));
const native = await onnxRunner([trunk], { threads: cores });
ways.push(mainThread(
  `ONNX Runtime, main thread on ${cores} thread(s), augmentation prefetched in a worker`,
  native,
));
const splits = [
  { workers: cores, threads: 1 },
  ...(cores > 1 ? [{ workers: 1, threads: cores }] : []),
];
const pools = [];
for (const engine of ["tfjs wasm", "ONNX Runtime"]) {
  for (const split of splits) {
    const pool = mobileNetTrunkPool(
      cache,
      backbone.spec.unfreezeFromStage,
      split.workers,
      split.threads,
      engine === "ONNX Runtime" ? onnx : undefined,
    );
    pools.push(pool);
    // Warm-up: worker start, weights, JIT.
    await pool.stream(config, split.workers, shape);
    ways.push({
      name: `${engine}, ${split.workers} trunk worker(s) x ${split.threads} thread(s), ` +
        "augmentation inside each",
      rates: [],
      async measure() {
        const start = performance.now();
        await pool.stream(config, batches, shape);
        this.rates.push((batches * 32) / ((performance.now() - start) / 1000));
      },
    });
  }
}
for (const way of ways.slice(0, 2)) await way.measure(); // warm-up of the main-thread ways
for (const way of ways.slice(0, 2)) way.rates.length = 0;
for (let r = 0; r < repeatCount; r++) {
  for (const way of ways) await way.measure();
}
for (const pool of pools) await pool.close();
await native.dispose();
const idle = describeIdle(idleBefore, await others.stop());
const best = (engine: string) =>
  Math.max(...ways.filter((w) => w.name.startsWith(engine)).map((w) => median(w.rates)));
console.log(
  `trunk of MobileNetV2-0.35 at 224, ${batches} Train_DA batches of 32 per measurement, ` +
    `median of ${values.repeats}; ${idle.line}`,
);
console.log("| engine, cores split as | images/s |\n|---|---|");
for (const way of ways) console.log(`| ${way.name} | ${median(way.rates).toFixed(1)} |`);
const ratio = best("ONNX Runtime") / best("tfjs wasm");
console.log(
  idle.valid
    ? `\nbest ONNX Runtime / best tfjs wasm: ${ratio.toFixed(2)}x`
    : `\n(ratio withheld: the machine was not idle)`,
);
