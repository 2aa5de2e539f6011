/// <reference lib="deno.worker" />
/**
 * A worker that runs the frozen trunk: it makes augmented batch k itself (the stream is a pure
 * function of (seed, k)) or reads given photos, and returns the trunk's activations. Several of
 * them use several cores, each on the wasm thread count its pool gives it.
 */
import { initBackend, tf } from "../engine/tf.ts";
import { buildBackbone, splitBackbone } from "../model/index.ts";
import { loadPretrained } from "../model/pretrained.ts";
import { type FoldedModel, foldModel } from "../model/fold.ts";
import { batchMaker, type StreamConfig } from "../augment/pipeline.ts";
import { ImageCache } from "../data/image_cache.ts";
import { scaledPhotos } from "../augment/batch.ts";
import type { TrunkJob, TrunkWorkerInit } from "./trunk_pool.ts";

let trunk: FoldedModel | undefined;
const makers = new Map<string, ReturnType<typeof batchMaker>>();
let cache: ImageCache | undefined;

async function init(message: TrunkWorkerInit) {
  await initBackend({ request: message.backend, quiet: true, threads: message.threads ?? 1 });
  const backbone = buildBackbone(message.backbone.name, {
    alpha: message.backbone.alpha,
    size: message.backbone.size,
  });
  await loadPretrained(backbone, message.weights);
  trunk = foldModel(splitBackbone(backbone, message.splitStage).trunk);
  cache = new ImageCache(message.cacheFile, message.cacheMeta, true);
}

function run(job: TrunkJob): { x: Float32Array; labels: Int32Array } {
  if (job.type === "batch") {
    const key = JSON.stringify(job.config);
    if (!makers.has(key)) makers.set(key, batchMaker(job.config as StreamConfig));
    const batch = makers.get(key)!.make(job.k);
    const x = tf.tidy(() =>
      trunk!.predict(tf.tensor4d(batch.images, [batch.n, batch.size, batch.size, 3]))
        .dataSync() as Float32Array
    );
    return { x, labels: batch.labels };
  }
  const images = scaledPhotos(cache!, job.ids);
  const x = tf.tidy(() =>
    trunk!.predict(tf.tensor4d(images, [job.ids.length, cache!.size, cache!.size, 3]))
      .dataSync() as Float32Array
  );
  return { x, labels: new Int32Array(0) };
}

let ready: Promise<void> | undefined;
self.onmessage = async (event: MessageEvent) => {
  const message = event.data;
  if (message.type === "init") {
    ready = init(message).catch((error) => {
      self.postMessage({ id: -1, error: (error as Error).message });
    });
    return;
  }
  try {
    await ready;
    const { x, labels } = run(message.job);
    // Copies: dataSync may hand back views of memory the worker keeps.
    const xs = x.slice();
    const ls = labels.slice();
    self.postMessage({ id: message.id, x: xs.buffer, labels: ls.buffer }, [xs.buffer, ls.buffer]);
  } catch (error) {
    self.postMessage({ id: message.id, error: (error as Error).message });
  }
};
