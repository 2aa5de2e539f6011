/**
 * The stage-2 top step alone (MobileNetV2-0.35 top blocks folded for training, the seed head, SGD,
 * batch 32, fixed inputs): steps/s over 40 steps after 5 warm-up steps. Given another checkout's
 * root, it measures that checkout's `lib/` instead, so two commits can be timed side by side:
 *
 *   git worktree add /tmp/old <commit> && ln -s "$PWD/node_modules" /tmp/old/node_modules
 *   cp bench/top_step.ts /tmp/old/bench/
 *   for i in 1 2 3; do (cd /tmp/old && deno run -A bench/top_step.ts /tmp/old); \
 *     deno run -A bench/top_step.ts; done
 */
import { resolve } from "node:path";

const root = resolve(Deno.args[0] ?? ".");
const lib = (path: string) => import(`file://${root}/lib/${path}`);
const { initBackend, tf } = await lib("tf.ts");
const { buildBackbone, loadPretrained, splitBackbone } = await lib("model/index.ts");
const { foldModel } = await lib("model/fold.ts");
const { buildSeedModel, unfreezeFrom } = await lib("model/seed_model.ts");
const { makeOptimizer, trainStep } = await lib("train/step.ts");
const { defaultWeights } = await lib("paths.ts");

await initBackend({ quiet: true });
const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 224 });
await loadPretrained(backbone, defaultWeights());
const model = buildSeedModel(backbone, { classes: 10 });
const { trunk, top } = splitBackbone(backbone);
const live = foldModel(top, { trainable: true });
unfreezeFrom(model);
const shape = trunk.outputs[0].shape.slice(1) as number[];
const x = new Float32Array(32 * shape.reduce((a, b) => a * b, 1)).map((_, i) => (i % 97) / 97);
const labels = Int32Array.from({ length: 32 }, (_, i) => i % 10);
const source = {
  part: live,
  batch: () => ({ x: tf.tensor(x, [32, ...shape]), labels: tf.tensor1d(labels, "int32") }),
};
const optimizer = makeOptimizer({ kind: "sgd", learningRate: 1e-4, momentum: 0.9 });
for (let k = 0; k < 5; k++) await trainStep(model, source, k, optimizer);
const steps = 40;
const start = performance.now();
for (let k = 0; k < steps; k++) await trainStep(model, source, k, optimizer);
console.log(`${root}: ${(steps / ((performance.now() - start) / 1000)).toFixed(2)} steps/s`);
