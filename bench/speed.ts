/**
 * Training and inference speed on this CPU, side by side with PyTorch in one run: MobileNetV2-0.35
 * at 224, batch 32, the seed head and loss, the project's steps on tfjs against the same network
 * and steps in PyTorch (bench/torch_reference.py, 2 threads, NCHW and channels_last, each also
 * with its frozen parts BatchNorm-folded by torch.fx, as the project folds its own). Repeats
 * alternate between the two. Medians are printed with ratios, FLOPs per image and achieved
 * GFLOP/s. The native engine has its own column (ONNX Runtime, lib/engine/onnx.ts): inference,
 * the trunk, the stage-2 step on cached activations (the native training step) and on images
 * (the trunk's forward then that step), on every core. Then wasm matmul/conv GFLOP/s at 1 thread
 * against N threads (child processes), the trunk workers on both engines, decoding (sharp
 * against PIL) and the augmentation rate.
 *
 * Ratios need an idle machine (see bench/idle.ts): the load and the busiest other processes are
 * recorded before the start, other processes' CPU time is measured over the whole run, and when
 * the load is 0.5 or more, or other processes pass 5% of the machine, the ratios are withheld
 * (`--force` prints them, marked).
 *
 *   deno task bench:speed [--repeats 3] [--steps 6] [--photos 600] [--no-torch] [--force]
 *
 * PyTorch is a benchmark-only dependency: Debian's python3-torch and python3-pil, installed here
 * with apt-get when missing (root or sudo needed), or `--python` naming one with a current wheel;
 * tcmalloc is preloaded into it (bench/common.ts ensureTorch says why).
 */
import { initBackend, tf } from "../lib/engine/tf.ts";
import { buildBackbone, loadPretrained, splitBackbone } from "../lib/model/index.ts";
import { foldModel } from "../lib/model/fold.ts";
import { applyPart, type InferenceModel, type Part } from "../lib/model/inference.ts";
import { modelFlops } from "../lib/model/flops.ts";
import { buildSeedModel, freezeBackbone, unfreezeFrom } from "../lib/model/seed_model.ts";
import { type BatchSource, makeOptimizer, trainStep } from "../lib/train/step.ts";
import { onnxRunner } from "../lib/model/runner.ts";
import { toOnnx } from "../lib/model/onnx.ts";
import { openNativeStep } from "../lib/train/native_step.ts";
import { SEED_LOSS_WEIGHTS } from "../lib/model/loss.ts";
import { cacheImages } from "../lib/data/cache.ts";
import { LabelMap } from "../lib/data/labels.ts";
import { inlineStream, poolStream } from "../lib/augment/pipeline.ts";
import { defaultWeights } from "../lib/paths.ts";
import {
  benchArgs,
  count,
  median,
  mobileNetTrunkPool,
  poolRate,
  samplePhotos,
  sharpRate,
} from "./common.ts";
import { checkIdle, describeIdle, watchOthers } from "./idle.ts";
import { ensureTorch, run } from "./common.ts";

const HELP = `Usage: deno task bench:speed [--repeats N] [--steps N] [--photos N] [--no-torch]
                             [--python PATH] [--force]

Training and inference speed side by side with PyTorch in one run (MobileNetV2-0.35 at 224,
batch 32): tfjs and ONNX Runtime against PyTorch 2 threads, then wasm threads, the trunk workers,
decoding and augmentation. On a busy machine the ratios are withheld unless --force.

  --repeats N    repeats, alternating the two sides, medians printed (default 3)
  --steps N      training steps per measurement (default 6)
  --photos N     photos for decoding and augmentation (default 600)
  --no-torch     our side alone
  --python PATH  the Python with PyTorch (default /usr/bin/python3)
  --force        measure even when the machine is not idle (the figures then do not count)`;

const { values } = benchArgs(HELP, {
  repeats: { type: "string", default: "3" },
  steps: { type: "string", default: "6" },
  photos: { type: "string", default: "600" },
  "no-torch": { type: "boolean", default: false },
  python: { type: "string", default: "/usr/bin/python3" },
  force: { type: "boolean", default: false },
});
const repeats = count("repeats", values.repeats);
const steps = count("steps", values.steps);
const B = 32;
const SIZE = 224;

// --- PyTorch, installed on demand ------------------------------------------------------------
const python = values["no-torch"] ? null : await ensureTorch(values.python);
const idleBefore = await checkIdle();
const others = await watchOthers();

type TorchRow = {
  what: string;
  layout?: string;
  folded?: boolean;
  processes?: number;
  images_per_s: number;
};
async function torch(args: string[]): Promise<TorchRow[]> {
  if (!python) return [];
  const r = await run(python.python, ["bench/torch_reference.py", ...args], python.env);
  if (!r.ok) throw new Error(`torch_reference.py failed:\n${r.out}`);
  return r.out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

// --- The project's side ------------------------------------------------------------------------
const choice = await initBackend();
const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35, size: SIZE });
await loadPretrained(backbone, defaultWeights());
const { trunk, top } = splitBackbone(backbone);
const foldedTrunk = foldModel(trunk);
const foldedBackbone = foldModel(backbone.model);
const trainableTop = foldModel(top, { trainable: true });
const model = buildSeedModel(backbone, { classes: 10 });
const images = tf.randomUniform([B, SIZE, SIZE, 3], -1, 1, "float32", 1);
const labels = Int32Array.from({ length: B }, (_, i) => i % 10);
const fixed = (x: tf.Tensor, part: Part | null, frozen?: InferenceModel): BatchSource => ({
  part,
  frozen,
  batch: () => ({ x: x.clone(), labels }),
});
const trunkOut = foldedTrunk.predict(images);
const pooled = applyPart(top, trunkOut);

async function rate(f: () => unknown): Promise<number> {
  await f(); // warm-up (first-call kernel setup)
  const start = performance.now();
  for (let i = 0; i < steps; i++) await f();
  return (steps * B) / ((performance.now() - start) / 1000);
}
const adam = makeOptimizer({ kind: "adam", learningRate: 1e-3 });
const sgd = makeOptimizer({ kind: "sgd", learningRate: 1e-4, momentum: 0.9 });
const tfjsCases: Record<string, () => Promise<number>> = {
  "infer (Keras layers)": () =>
    rate(() => tf.dispose(tf.tidy(() => backbone.model.predict(images)))),
  "infer": () => rate(() => foldedBackbone.predict(images).dispose()),
  "trunk": () => rate(() => foldedTrunk.predict(images).dispose()),
  "stage1": () => {
    freezeBackbone(model);
    return rate(() => trainStep(model, fixed(images, null, foldedBackbone), 0, adam));
  },
  "stage2": () => {
    unfreezeFrom(model);
    return rate(() => trainStep(model, fixed(images, trainableTop, foldedTrunk), 0, sgd));
  },
  "stage2_top (Keras layers)": () => {
    unfreezeFrom(model);
    return rate(() => trainStep(model, fixed(trunkOut, top), 0, sgd));
  },
  "stage2_top": () => {
    unfreezeFrom(model);
    return rate(() => trainStep(model, fixed(trunkOut, trainableTop), 0, sgd));
  },
  "stage1_head": () => {
    freezeBackbone(model);
    return rate(() => trainStep(model, fixed(pooled, null), 0, adam));
  },
};

// The native engine, on every core: ONNX Runtime sessions of the project's own graphs.
const cores = navigator.hardwareConcurrency || 2;
const imageData = await images.data() as Float32Array;
const nativeInfer = await onnxRunner([backbone.model, model.head], {
  outputs: [1, 2],
  softmax: true,
  threads: cores,
});
const nativeTrunk = await onnxRunner([trunk], { threads: cores });
unfreezeFrom(model);
const [cachedX] = await nativeTrunk.run(imageData, B);
const cachedSet = {
  x: cachedX,
  labels: Int32Array.from({ length: B }, (_, i) => i % 10),
  n: B,
  shape: nativeTrunk.outputShapes[0],
};
const nativeStep = await openNativeStep(model, top, cachedSet, {
  batchSize: B,
  cycle: 1,
  learningRate: 1e-4,
  momentum: 0.9,
  lossWeights: SEED_LOSS_WEIGHTS,
  threads: cores,
});
await nativeStep.load(sgd);
const nativeCases: Record<string, () => Promise<number>> = {
  "infer": () => rate(() => nativeInfer.run(imageData, B)),
  "trunk": () => rate(() => nativeTrunk.run(imageData, B)),
  "stage2": () =>
    rate(async () => {
      const [x] = await nativeTrunk.run(imageData, B);
      cachedSet.x.set(x);
      await nativeStep.step(0);
    }),
  "stage2_top": () => rate(() => nativeStep.step(0)),
};

// wasm GFLOP/s at 1 thread and at this process' thread count, each in a child process.
const threadsNow = choice.threads;
const threadResults = new Map<number, { matmul: number; conv: number }[]>();
async function threadRates(n: number): Promise<{ matmul: number; conv: number } | undefined> {
  if (choice.backend !== "wasm") return undefined;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "bench/matmul.ts", "--repeats", "1"],
    env: { TFJS_THREADS: String(n) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`bench/matmul.ts: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

const ours = new Map<string, number[]>();
const native = new Map<string, number[]>();
const theirs = new Map<string, number[]>();
const torchArgs = ["--steps", String(steps), "--repeats", "1", "--batch", String(B)];
for (let r = 0; r < repeats; r++) {
  for (const [name, f] of Object.entries(tfjsCases)) {
    ours.set(name, [...(ours.get(name) ?? []), await f()]);
  }
  for (const [name, f] of Object.entries(nativeCases)) {
    native.set(name, [...(native.get(name) ?? []), await f()]);
  }
  for (const layout of [[], ["--channels-last"]]) {
    for (const fold of [[], ["--fold"]]) {
      for (const row of await torch([...torchArgs, ...layout, ...fold])) {
        const key = `${row.what} ${row.layout}${row.folded ? " folded" : ""}`;
        theirs.set(key, [...(theirs.get(key) ?? []), row.images_per_s]);
      }
    }
  }
  for (const n of [1, threadsNow]) {
    const rates = await threadRates(n);
    if (rates) threadResults.set(n, [...(threadResults.get(n) ?? []), rates]);
  }
  console.error(`bench: repeat ${r + 1}/${repeats} done`);
}

// Both cores: the project's trunk workers (the frozen forward of stages 2-3, and of stage 1).
const items = await samplePhotos(count("photos", values.photos));
const cache = await cacheImages(items, { size: SIZE });
const map = LabelMap.fromLabels(items.map((i) => i.label));
const config = poolStream(cache, items, map, { policy: "Train_DA", seed: 0, batchSize: B });
const shape = foldedTrunk.outputShape;
const workers = navigator.hardwareConcurrency || 2;
const trunkGraph = await toOnnx([trunk], { planarInput: true });
const poolRates = new Map<string, number[]>();
for (const [engine, onnx] of [["tfjs wasm", undefined], ["ONNX Runtime", trunkGraph]] as const) {
  const pool = mobileNetTrunkPool(cache, backbone.spec.unfreezeFromStage, workers, 1, onnx);
  await pool.stream(config, workers, shape);
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    await pool.stream(config, 2 * steps, shape);
    const rates = poolRates.get(engine) ?? [];
    poolRates.set(engine, [...rates, (2 * steps * B) / ((performance.now() - t) / 1000)]);
  }
  await pool.close();
}
await nativeStep.release();
await nativeInfer.dispose();
await nativeTrunk.dispose();

// --- Decoding and augmentation ---------------------------------------------------------------
const sharpRates: number[] = [];
const decodePoolRates: number[] = [];
const augmentRates: number[] = [];
const pilRates = new Map<number, number[]>();
const listFile = await Deno.makeTempFile({ suffix: ".txt" });
await Deno.writeTextFile(listFile, items.map((i) => i.path).join("\n"));
for (let r = 0; r < repeats; r++) {
  sharpRates.push(await sharpRate(items, SIZE));
  decodePoolRates.push(await poolRate(items, SIZE));
  const stream = inlineStream(config);
  const start = performance.now();
  for (let b = 0; b < 8; b++) await stream.next();
  augmentRates.push((8 * B) / ((performance.now() - start) / 1000));
  for (const row of await torch(["--what", "decode", "--photos", listFile, "--repeats", "1"])) {
    pilRates.set(row.processes!, [...(pilRates.get(row.processes!) ?? []), row.images_per_s]);
  }
}
await Deno.remove(listFile);
cache.close();

// --- Report ----------------------------------------------------------------------------------
const flops = {
  trunk: modelFlops(trunk),
  top: modelFlops(top),
  head: modelFlops(model.head),
};
const forward = flops.trunk + flops.top + flops.head;
// A training step: forward everywhere, and for what trains ~2x its forward again (dx and dW).
const stepFlops: Record<string, number> = {
  "infer (Keras layers)": forward,
  infer: forward,
  trunk: flops.trunk,
  stage1: forward + 2 * flops.head,
  stage2: forward + 2 * (flops.top + flops.head),
  stage2_top: 3 * (flops.top + flops.head),
  stage1_head: 3 * flops.head,
};
const fmt = (x: number | undefined, digits = 1) => x === undefined ? "—" : x.toFixed(digits);
const idle = describeIdle(idleBefore, await others.stop());
const showRatios = idle.valid || values.force;
const ratio = (x: number) =>
  idle.valid ? `${fmt(x, 2)}x` : showRatios ? `${fmt(x, 2)}x (not idle)` : "withheld";
console.log(
  `MobileNetV2-0.35 at ${SIZE}, batch ${B}, ${steps} steps per measurement, median of ${repeats}; ` +
    `tfjs backend: ${choice.backend} (${choice.threads} thread${
      choice.threads === 1 ? "" : "s"
    }); ` +
    `${python ? `${python.describe}, 2 threads` : "PyTorch not run"}; ${
      new Date().toISOString().slice(0, 10)
    }`,
);
console.log(`machine: ${idle.line}`);
if (!idle.valid) {
  console.log(
    `RATIOS ${
      values.force ? "UNRELIABLE" : "WITHHELD"
    }: the machine was not idle (load average 0.5 or more at the start, or other processes ` +
      `above 5% of the CPU); PyTorch's threads slow down far more than tfjs on a busy machine.`,
  );
}
const torchColumns = ["NCHW", "channels_last", "NCHW folded", "channels_last folded"];
console.log(
  `\n| step | MFLOP/img | tfjs img/s | ONNX Runtime img/s | ${
    torchColumns.map((c) => `PyTorch ${c}`).join(" | ")
  } | tfjs / best PyTorch | ONNX Runtime / best PyTorch |`,
);
console.log(`|---|---|---|---|${torchColumns.map(() => "---|").join("")}---|---|`);
for (const name of Object.keys(tfjsCases)) {
  const key = name.replace(" (Keras layers)", "");
  const a = median(ours.get(name)!);
  const n = name === key && native.has(key) ? median(native.get(key)!) : undefined;
  const torchRates = torchColumns.map((c) => {
    const rates = theirs.get(`${key} ${c}`);
    return rates ? median(rates) : undefined;
  });
  const best = Math.max(0, ...torchRates.map((r) => r ?? 0));
  console.log(
    `| ${name} | ${fmt(stepFlops[key] / 1e6)} | ${fmt(a)} | ${fmt(n)} | ` +
      `${torchRates.map((r) => fmt(r)).join(" | ")} | ${best ? ratio(a / best) : "—"} | ${
        best && n ? ratio(n / best) : "—"
      } |`,
  );
}
if (threadResults.size === 2) {
  const [one, many] = [1, threadsNow].map((n) => threadResults.get(n)!);
  const m1 = median(one.map((r) => r.matmul));
  const mN = median(many.map((r) => r.matmul));
  const c1 = median(one.map((r) => r.conv));
  const cN = median(many.map((r) => r.conv));
  console.log(`\n| wasm kernel | 1 thread GFLOP/s | ${threadsNow} threads GFLOP/s | ratio |`);
  console.log("|---|---|---|---|");
  console.log(`| matmul 1024x1024 | ${fmt(m1)} | ${fmt(mN)} | ${ratio(mN / m1)} |`);
  console.log(`| conv 3x3, 32x56x56x32 -> 64 | ${fmt(c1)} | ${fmt(cN)} | ${ratio(cN / c1)} |`);
}
for (const [engine, rates] of poolRates) {
  const trunkRate = median(rates);
  console.log(
    `\nfrozen trunk, ${engine}, on ${workers} workers x 1 thread (Train_DA batches made in ` +
      `the workers): ${fmt(trunkRate)} img/s, ${fmt((trunkRate * flops.trunk) / 1e9, 2)} GFLOP/s`,
  );
}
console.log("\n| input pipeline | images/s |\n|---|---|");
console.log(
  `| sharp decode + center crop + nearest resize (4 in flight) | ${fmt(median(sharpRates), 0)} |`,
);
console.log(
  `| libjpeg-turbo decode pool (a worker per core, what the cache builds with) | ${
    fmt(median(decodePoolRates), 0)
  } |`,
);
for (const [p, rates] of pilRates) {
  console.log(
    `| PIL decode + center crop + nearest resize, ${p} process(es) | ${fmt(median(rates), 0)} |`,
  );
}
console.log(
  `| Train_DA augmentation from the decoded cache (main thread) | ${
    fmt(median(augmentRates), 0)
  } |`,
);
const pil = Math.max(...[...pilRates.values()].map(median), 0);
if (pil) {
  console.log(
    `sharp / best PIL: ${ratio(median(sharpRates) / pil)}; decode pool / best PIL: ${
      ratio(median(decodePoolRates) / pil)
    }`,
  );
}
