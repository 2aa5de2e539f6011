/**
 * Are the shipped weights really ImageNet features? A linear classifier on frozen MobileNetV2
 * features of 30 ImageWoof photos per breed must beat chance (10%) by a wide margin on 20 other
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

async function probe(
  pretrained: boolean,
  photos: { path: string; y: number; train: boolean }[],
): Promise<number> {
  const net = buildBackbone("mobilenet_v2", { alpha: 0.35 });
  if (pretrained) assignWeights(net.model, await readWeightFile(SHARED_MOBILENET));
  const frame = 224 * 224 * 3;
  const features: tf.Tensor[] = [];
  for (let i = 0; i < photos.length; i += 50) {
    const chunk = photos.slice(i, i + 50);
    const pixels = new Float32Array(chunk.length * frame);
    for (let j = 0; j < chunk.length; j++) {
      scaleInto((await loadImage(chunk[j].path, { size: 224 })).data, pixels, j * frame);
    }
    const x = tf.tensor4d(pixels, [chunk.length, 224, 224, 3]);
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

Deno.test("ImageNet sanity: linear probe on frozen features, 30 photos per breed, far above chance", async () => {
  const listing = await readImageFolder(SHARED_IMAGEWOOF);
  const labels = LabelMap.fromLabels(listing.train.map((t) => t.label));
  const rng = new Rng("probe");
  const photos = groupByClass(listing.train, labels).flatMap((group, y) =>
    rng.shuffle([...group]).slice(0, 50).map((p, i) => ({ path: p.path, y, train: i < 30 }))
  );
  const pretrained = await probe(true, photos);
  const random = await probe(false, photos);
  console.log(
    `linear probe accuracy: ImageNet weights ${(pretrained * 100).toFixed(1)}%, random ${
      (random * 100).toFixed(1)
    }%`,
  );
  assert.ok(pretrained >= 0.6, `ImageNet features: ${pretrained}`);
  assert.ok(random < 0.35, `random features: ${random}`);
});
