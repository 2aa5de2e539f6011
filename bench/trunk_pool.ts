/**
 * Trunk caching as the training runs it (ONNX Runtime in one worker per core, each making its
 * Train_DA batches from the decoded cache), for several checkouts side by side: each root's
 * `lib/` builds its own pool, and the pools take turns, 16 batches at a time, in one process.
 * Prints images/s per round and the median.
 *
 *   git worktree add /tmp/old <commit> && ln -s "$PWD/node_modules" /tmp/old/node_modules
 *   deno task bench:trunk-pool . /tmp/old
 */
import { resolve } from "node:path";
import { initBackend } from "../lib/engine/tf.ts";
import { buildBackbone, loadPretrained, splitBackbone } from "../lib/model/index.ts";
import { LabelMap } from "../lib/data/labels.ts";
import { defaultWeights } from "../lib/paths.ts";
import { benchArgs, checkoutRoots, median, samplePhotos } from "./common.ts";

const HELP = `Usage: deno task bench:trunk-pool [ROOT...]

Trunk caching as training runs it (ONNX Runtime, one worker per core, Train_DA batches from the
decoded cache), images/s for each checkout ROOT (default: this one), taking turns in one
process. To compare with an older commit:

  git worktree add /tmp/old <commit> && ln -s "$PWD/node_modules" /tmp/old/node_modules
  deno task bench:trunk-pool . /tmp/old`;

const { positionals } = benchArgs(HELP, {}, { positionals: true });
const roots = await checkoutRoots(positionals);
const BATCHES = 16;
const ROUNDS = 4;
await initBackend({ quiet: true });
const items = await samplePhotos(600);
const map = LabelMap.fromLabels(items.map((i) => i.label));
const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 224 });
await loadPretrained(backbone, defaultWeights());
const trunk = splitBackbone(backbone).trunk;
const shape = (trunk.outputs[0].shape as number[]).slice(1);

const pools = [];
for (const root of roots) {
  const lib = (path: string) => import(`file://${resolve(root)}/lib/${path}`);
  const { TrunkPool } = await lib("train/trunk_pool.ts");
  // Each checkout reads photos from its own cache, in the shape its workers take.
  const cache = await (await lib("data/cache.ts")).cacheImages(items, { size: 224 });
  const config = (await lib("augment/pipeline.ts")).poolStream(cache, items, map, {
    policy: "Train_DA",
    seed: 0,
    batchSize: 32,
  });
  const { toOnnx } = await lib("model/onnx.ts");
  // Versions before the planar input wrote NHWC graphs and ignore the option.
  const onnx = await toOnnx([trunk], { planarInput: true });
  const pool = new TrunkPool({
    backend: "wasm",
    onnx,
    threads: 1,
    backbone: { name: "mobilenet_v2", alpha: 0.35, size: 224 },
    weights: defaultWeights(),
    splitStage: backbone.spec.unfreezeFromStage,
    cache: cache.view,
    cacheFile: cache.file,
    cacheMeta: cache.meta,
  }, navigator.hardwareConcurrency || 2);
  await pool.stream(config, 4, shape); // warm-up: workers, sessions, JIT
  pools.push({ root, pool, cache, config, rates: [] as number[] });
}
for (let round = 0; round < ROUNDS; round++) {
  for (const p of pools) {
    const start = performance.now();
    await p.pool.stream(p.config, BATCHES, shape);
    p.rates.push((BATCHES * 32) / ((performance.now() - start) / 1000));
  }
}
for (const p of pools) {
  const rates = p.rates.map((r) => r.toFixed(0)).join(", ");
  console.log(`${p.root}: ${median(p.rates).toFixed(0)} img/s (rounds: ${rates})`);
  await p.pool.close();
  p.cache.close();
}
