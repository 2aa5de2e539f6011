/**
 * The stage-2 top step alone, on ONNX Runtime (the native step graph of `lib/model/onnx_step.ts`:
 * MobileNetV2-0.35's blocks 15-16 and Conv_1, the seed head and losses, SGD with momentum; batch 32
 * of fixed activations), in milliseconds per step. Given other checkouts' roots, it writes each
 * one's graph and runs them in turn, 5 steps at a time, in one process: the only comparison that
 * holds on a VM whose speed drifts by a third from minute to minute.
 *
 *   git worktree add /tmp/old <commit> && ln -s "$PWD/node_modules" /tmp/old/node_modules
 *   deno task bench:top-step . /tmp/old
 */
import { resolve } from "node:path";
import type * as Ort from "onnxruntime-node";
import { initBackend } from "../lib/engine/tf.ts";
import { onnxRuntime } from "../lib/engine/onnx.ts";
import { buildBackbone, loadPretrained, splitBackbone } from "../lib/model/index.ts";
import { buildSeedModel, unfreezeFrom } from "../lib/model/seed_model.ts";
import { SEED_LOSS_WEIGHTS } from "../lib/model/loss.ts";
import { defaultWeights } from "../lib/paths.ts";
import { benchArgs, checkoutRoots, median } from "./common.ts";

const HELP = `Usage: deno task bench:top-step [ROOT...]

Milliseconds per stage-2 top step on ONNX Runtime (the native step graph), for each checkout
ROOT (default: this one), in turns in one process. To compare with an older commit:

  git worktree add /tmp/old <commit> && ln -s "$PWD/node_modules" /tmp/old/node_modules
  deno task bench:top-step . /tmp/old`;

const { positionals } = benchArgs(HELP, {}, { positionals: true });
const roots = await checkoutRoots(positionals);
const B = 32;
const ROUNDS = 12;
await initBackend({ quiet: true });
const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 224 });
await loadPretrained(backbone, defaultWeights());
const model = buildSeedModel(backbone, { classes: 10 });
const { trunk, top } = splitBackbone(backbone);
unfreezeFrom(model);
const ort = await onnxRuntime();
const shape = (trunk.outputs[0].shape as number[]).slice(1);
const x = Float32Array.from(
  { length: B * shape.reduce((a, b) => a * b, 1) },
  (_, i) => ((i * 7919) % 97) / 50 - 0.5,
);
const y = new Float32Array(B * 10).map((_, i) => (i % 10 === Math.floor(i / 10) % 10 ? 1 : 0));
const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor("float32", data, dims);

/** A checkout's step graph in a session, and the feeds it takes (the flat `w`/`a` vectors of
 * this version, or the `w<i>`/`a<i>` pairs of versions before it). */
async function open(root: string) {
  const lib = await import(`file://${resolve(root)}/lib/model/onnx_step.ts`);
  const graph = await lib.momentumStepGraph(model, top, {
    batch: B,
    momentum: 0.9,
    lossWeights: SEED_LOSS_WEIGHTS,
  });
  const session = await ort.InferenceSession.create(graph.bytes, {
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    extra: { session: { intra_op: { allow_spinning: "1" }, force_spinning_stop: "1" } },
  });
  const feeds: Record<string, Ort.Tensor> = {
    x: tensor(x, [B, ...shape]),
    y: tensor(y, [B, 10]),
    lr: tensor(new Float32Array([1e-4]), []),
  };
  const variables = graph.variables as {
    size: number;
    shape: number[];
    data(): Promise<unknown>;
  }[];
  if (session.inputNames.includes("w")) {
    const total = graph.offsets.at(-1)!;
    const w = new Float32Array(total);
    for (const [i, v] of variables.entries()) {
      w.set(await v.data() as Float32Array, graph.offsets[i]);
    }
    feeds.w = tensor(w, [total]);
    feeds.a = tensor(new Float32Array(total), [total]);
  } else {
    for (const [i, v] of variables.entries()) {
      feeds[`w${i}`] = tensor((await v.data() as Float32Array).slice(), v.shape);
      feeds[`a${i}`] = tensor(new Float32Array(v.size), v.shape);
    }
  }
  return { root, session, feeds, times: [] as number[] };
}

const runs = [];
for (const root of roots) runs.push(await open(root));
for (const run of runs) for (let k = 0; k < 3; k++) await run.session.run(run.feeds);
for (let round = 0; round < ROUNDS; round++) {
  for (const run of runs) {
    for (let k = 0; k < 5; k++) {
      const start = performance.now();
      await run.session.run(run.feeds);
      run.times.push(performance.now() - start);
    }
  }
}
for (const run of runs) {
  const ms = median(run.times);
  console.log(`${run.root}: ${ms.toFixed(2)} ms per step, ${(B * 1000 / ms).toFixed(0)} img/s`);
  await run.session.release();
}
if (runs.length > 1) {
  const [first, ...rest] = runs.map((r) => median(r.times));
  rest.forEach((ms, i) =>
    console.log(`${roots[i + 1]} / ${roots[0]}: ${(ms / first).toFixed(2)}x the time`)
  );
}
