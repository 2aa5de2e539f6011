/**
 * Input-pipeline throughput: augmented, scaled 224x224 samples per second from the decoded-image
 * cache, per stage policy. Side by side in one run, taking turns batch by batch: the one-pass
 * renderer the batches use (`warp.ts`, into a reused buffer, as the trunk workers run it) against
 * the same plans op by op (`applyPlan` then scaling, into the same buffer); then the prefetch
 * worker as the one-worker path uses it (a fresh buffer per batch, handed over).
 *
 *   deno task bench:augment [--data ../shared/data/imagewoof/train] [--batches 40]
 */
import { scaleInto } from "../lib/augment/batch.ts";
import {
  batchMaker,
  cacheSource,
  poolStream,
  type StreamConfig,
  workerStream,
} from "../lib/augment/pipeline.ts";
import { applyPlan, drawPlan } from "../lib/augment/plan.ts";
import { policy, type PolicyName } from "../lib/augment/policy.ts";
import { BatchSampler } from "../lib/augment/sampler.ts";
import { cacheImages } from "../lib/data/cache.ts";
import { ImageCache } from "../lib/data/image_cache.ts";
import { LabelMap } from "../lib/data/labels.ts";
import { Rng } from "../lib/rng.ts";
import { benchArgs, count, median, samplePhotos } from "./common.ts";
import { checkIdle, describeIdle, watchOthers } from "./idle.ts";

const HELP = `Usage: deno task bench:augment [--data DIR] [--photos N] [--batches N] [--size PX]

Augmented, scaled samples per second from the decoded-photo cache, per stage policy: the one-pass
renderer against the same plans op by op, side by side, then the prefetch worker.

  --data DIR     dataset (default ../shared/data/imagewoof/train)
  --photos N     photos sampled from it (default 2000)
  --batches N    batches per measurement (default 40)
  --size PX      frame side (default 224)`;

const { values } = benchArgs(HELP, {
  data: { type: "string", default: "../shared/data/imagewoof/train" },
  photos: { type: "string", default: "2000" },
  batches: { type: "string", default: "40" },
  size: { type: "string", default: "224" },
});
const size = count("size", values.size, 8);
const batches = count("batches", values.batches);
const items = await samplePhotos(count("photos", values.photos), values.data);
const cache = await cacheImages(items, { size });
const labels = LabelMap.fromLabels(items.map((i) => i.label));
const configs = (["Train_DA", "Train"] as PolicyName[]).map((name) =>
  poolStream(cache, items, labels, { policy: name, seed: 0, batchSize: 32 })
);
cache.close();

/** Batch k op by op, as the batches were made before the one-pass renderer. */
function opByOp(config: StreamConfig): (k: number, into: Float32Array) => void {
  const source = cacheSource(
    new ImageCache(config.cache, true),
    config.backgroundIds,
  );
  const p = policy(config.policy);
  const sampler = new BatchSampler(config.byClass, { seed: config.seed, pairs: p.splice });
  const frame = size * size * 3;
  return (k, into) => {
    const rng = new Rng(`augment:${config.seed}:${k}`);
    sampler.batch(k).forEach((sample, i) => {
      const plan = drawPlan(sample, p, rng, size, source.backgroundIds);
      scaleInto(applyPlan(plan, source).data, into, i * frame, true);
    });
  };
}

/** Samples per second of the one-pass and op-by-op batches, taking turns batch by batch. */
function sideBySide(config: StreamConfig): { onePass: number; opByOp: number } {
  const maker = batchMaker(config);
  const old = opByOp(config);
  const into = new Float32Array(32 * size * size * 3);
  const seconds = { onePass: [] as number[], opByOp: [] as number[] };
  for (let k = -1; k < batches; k++) {
    const b = Math.max(k, 0);
    let start = performance.now();
    maker.make(b, { into, planar: true });
    if (k >= 0) seconds.onePass.push((performance.now() - start) / 1000); // k = -1: warm-up
    start = performance.now();
    old(b, into);
    if (k >= 0) seconds.opByOp.push((performance.now() - start) / 1000);
  }
  maker.close();
  return { onePass: 32 / median(seconds.onePass), opByOp: 32 / median(seconds.opByOp) };
}

async function workerRate(config: StreamConfig): Promise<number> {
  const stream = workerStream(config, 0, 3);
  await stream.next(); // warm-up (worker start, JIT)
  const start = performance.now();
  for (let i = 0; i < batches; i++) await stream.next();
  const seconds = (performance.now() - start) / 1000;
  stream.close();
  return (batches * 32) / seconds;
}

const idleBefore = await checkIdle();
const others = await watchOthers();
console.log(
  `${items.length} cached photos, ${size}x${size}, batch 32, ${batches} batches per cell ` +
    "(median per batch)",
);
console.log(
  "| policy | one pass samples/s | op by op samples/s | one pass / op by op | prefetch worker " +
    "samples/s |\n|---|---|---|---|---|",
);
for (const config of configs) {
  const { onePass, opByOp } = sideBySide(config);
  console.log(
    `| ${config.policy} | ${onePass.toFixed(0)} | ${opByOp.toFixed(0)} | ${
      (onePass / opByOp).toFixed(2)
    }x | ${(await workerRate(config)).toFixed(0)} |`,
  );
}
const idle = describeIdle(idleBefore, await others.stop());
console.log(idle.line);
if (!idle.valid) console.log("the machine was not idle: run again before quoting the ratios");
