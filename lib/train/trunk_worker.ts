/// <reference lib="deno.worker" />
/**
 * A worker that runs the frozen trunk: it makes augmented batch k itself (the stream is a pure
 * function of (seed, k)) or reads given photos, and returns the trunk's activations. Several of
 * them use several cores. Given the trunk's ONNX graph, a worker runs it on ONNX Runtime on one
 * thread and never loads tfjs; otherwise it builds the trunk on tfjs (wasm) itself.
 */
import { batchMaker, type StreamConfig } from "../augment/pipeline.ts";
import { ImageCache } from "../data/image_cache.ts";
import { scaledPhotos, type ScaleOptions } from "../augment/batch.ts";
import { CLOSED, type TrunkJob, type TrunkWorkerInit } from "./trunk_pool.ts";

/** The trunk on a batch of n scaled images: its activations. */
type Trunk = (images: Float32Array, n: number) => Promise<Float32Array>;

let trunk: Trunk | undefined;
let release: (() => Promise<void>) | undefined;
/** How this worker's trunk takes its images (planar for ONNX Runtime), in one buffer reused from
 * batch to batch: the trunk reads it before the next batch is made. */
const scale: ScaleOptions = {};
const keep = (images: Float32Array) => {
  if (images.length > (scale.into?.length ?? 0)) scale.into = images;
};
const makers = new Map<string, ReturnType<typeof batchMaker>>();
let cache: ImageCache | undefined;

/** Photos per ONNX Runtime run on one thread: a few photos' activations stay in the caches through
 * the first, widest blocks, 32 do not. Two such workers ran trunk caching 1.23x as fast at 2 as at
 * 32 (1.20x at 1, 1.13x at 4, 1.06x at 8; `bench:trunk-pool`, Zen 5), with the same bits out. With
 * more threads a run, the batch stays whole: they split it among themselves. */
const ONE_THREAD_CHUNK = 2;

async function init(message: TrunkWorkerInit): Promise<void> {
  cache = new ImageCache(message.cache, true);
  const size = message.backbone.size;
  if (message.onnx) {
    const { OnnxSession } = await import("../engine/onnx.ts");
    const threads = message.threads ?? 1;
    const session = await OnnxSession.create(message.onnx, threads);
    scale.planar = true;
    const chunk = threads === 1 ? ONE_THREAD_CHUNK : Infinity;
    trunk = async (images, n) => (await session.run(images, [n, 3, size, size], chunk))[0];
    release = () => session.release();
    return;
  }
  const { initBackend, readValues, tf } = await import("../engine/tf.ts");
  const { buildBackbone, splitBackbone } = await import("../model/index.ts");
  const { loadPretrained } = await import("../model/pretrained.ts");
  const { foldModel } = await import("../model/fold.ts");
  await initBackend({
    request: message.backend,
    quiet: true,
    threads: message.threads ?? 1,
    engine: "tfjs",
  });
  const backbone = buildBackbone(message.backbone.name, {
    alpha: message.backbone.alpha,
    size,
  });
  await loadPretrained(backbone, message.weights);
  const folded = foldModel(splitBackbone(backbone, message.splitStage).trunk);
  trunk = (images, n) =>
    readValues(tf.tidy(() => folded.predict(tf.tensor4d(images, [n, size, size, 3]))));
}

async function run(job: TrunkJob): Promise<{ x: Float32Array; labels: Int32Array }> {
  if (job.type === "batch") {
    const key = JSON.stringify(job.config);
    if (!makers.has(key)) makers.set(key, batchMaker(job.config as StreamConfig));
    const batch = makers.get(key)!.make(job.k, scale);
    keep(batch.images);
    return { x: await trunk!(batch.images, batch.n), labels: batch.labels };
  }
  const images = scaledPhotos(cache!, job.ids, scale);
  keep(images);
  return { x: await trunk!(images, job.ids.length), labels: new Int32Array(0) };
}

let ready: Promise<void> | undefined;
let jobs: Promise<void> = Promise.resolve();
self.onmessage = async (event: MessageEvent) => {
  const message = event.data;
  if (message.type === "init") {
    ready = init(message).catch((error) => {
      self.postMessage({ id: -1, error: (error as Error).message });
    });
    return;
  }
  if (message.type === "close") {
    await ready?.catch(() => {});
    await release?.().catch(() => {});
    self.postMessage({ id: CLOSED });
    return;
  }
  // One job at a time: the batch buffer is reused, so a job must be done with it first.
  const previous = jobs;
  let done = () => {};
  jobs = new Promise((resolve) => done = resolve);
  await previous;
  try {
    await ready;
    const { x, labels } = await run(message.job);
    // Copies that own their buffers, handed over without another copy.
    const xs = x.slice();
    const ls = labels.slice();
    self.postMessage({ id: message.id, x: xs.buffer, labels: ls.buffer }, [xs.buffer, ls.buffer]);
  } catch (error) {
    self.postMessage({ id: message.id, error: (error as Error).message });
  } finally {
    done();
  }
};
