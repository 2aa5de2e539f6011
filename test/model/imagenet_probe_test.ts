/**
 * Are the shipped weights really ImageNet features? A linear classifier on frozen MobileNetV2
 * features of 20 ImageWoof photos per breed must beat chance (10%) by a wide margin on 10 other
 * photos per breed; the same probe on a randomly initialised backbone must not.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "@/engine/tf.ts";
import { assignWeights, buildBackbone, readWeightFile } from "@/model/index.ts";
import { readImageFolder } from "@/data/readers.ts";
import { LabelMap } from "@/data/labels.ts";
import { groupByClass } from "@/data/split.ts";
import { loadImage } from "@/data/image.ts";
import { scaleInto } from "@/augment/batch.ts";
import { Rng } from "@/rng.ts";
import { SHARED_IMAGEWOOF, SHARED_MOBILENET } from "../fixtures.ts";

await initBackend({ quiet: true });

const FRAME = 224 * 224 * 3;

/** The photos scaled as the backbone reads them, decoded once for both probes. */
async function scaled(photos: { path: string }[]): Promise<Float32Array> {
  const pixels = new Float32Array(photos.length * FRAME);
  for (const [j, photo] of photos.entries()) {
    scaleInto((await loadImage(photo.path, { size: 224 })).data, pixels, j * FRAME);
  }
  return pixels;
}

async function probe(
  pretrained: boolean,
  photos: { y: number; train: boolean }[],
  pixels: Float32Array,
): Promise<number> {
  const net = buildBackbone("mobilenet_v2", { alpha: 0.35 });
  if (pretrained) assignWeights(net.model, await readWeightFile(SHARED_MOBILENET));
  const features: tf.Tensor[] = [];
  for (let i = 0; i < photos.length; i += 50) {
    const n = Math.min(50, photos.length - i);
    const x = tf.tensor4d(pixels.subarray(i * FRAME, (i + n) * FRAME), [n, 224, 224, 3]);
    features.push(net.model.predict(x) as tf.Tensor);
    x.dispose();
  }
  const all = tf.concat(features);
  const pick = (train: boolean) => photos.flatMap((p, i) => (p.train === train ? [i] : []));
  const [trainIdx, testIdx] = [pick(true), pick(false)];
  const xTrain = tf.gather(all, trainIdx);
  const yTrain = tf.oneHot(trainIdx.map((i) => photos[i].y), 10).toFloat();
  const classifier = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [1280],
        units: 10,
        activation: "softmax",
        kernelInitializer: tf.initializers.zeros(),
      }),
    ],
  });
  classifier.compile({ optimizer: tf.train.adam(0.01), loss: "categoricalCrossentropy" });
  await classifier.fit(xTrain, yTrain, { epochs: 200, batchSize: trainIdx.length, verbose: 0 });
  const predicted = (classifier.predict(tf.gather(all, testIdx)) as tf.Tensor).argMax(1).dataSync();
  const correct = testIdx.filter((i, k) => predicted[k] === photos[i].y).length;
  return correct / testIdx.length;
}

Deno.test("ImageNet sanity: linear probe on frozen features, 20 photos per breed, far above chance", async () => {
  const listing = await readImageFolder(SHARED_IMAGEWOOF);
  const labels = LabelMap.fromLabels(listing.train.map((t) => t.label));
  const rng = new Rng("probe");
  const photos = groupByClass(listing.train, labels).flatMap((group, y) =>
    rng.shuffle([...group]).slice(0, 30).map((p, i) => ({ path: p.path, y, train: i < 20 }))
  );
  const pixels = await scaled(photos);
  const pretrained = await probe(true, photos, pixels);
  const random = await probe(false, photos, pixels);
  console.log(
    `linear probe accuracy: ImageNet weights ${(pretrained * 100).toFixed(1)}%, random ${
      (random * 100).toFixed(1)
    }%`,
  );
  assert.ok(pretrained >= 0.6, `ImageNet features: ${pretrained}`);
  assert.ok(random < 0.35, `random features: ${random}`);
});
