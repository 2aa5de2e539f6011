/**
 * The ONNX graphs the project writes give, on ONNX Runtime, what tfjs computes from the same
 * weights: at the trunk cut (cached activations) and at the heads (probabilities), for both
 * backbones. MobileNetV2 carries the real ImageNet weights; Xception (no weights kept here)
 * carries random ones with random BatchNorm statistics, so folding has something to get wrong.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "@/engine/tf.ts";
import { buildBackbone, loadPretrained, splitBackbone } from "@/model/index.ts";
import { buildSeedModel, type SeedModel } from "@/model/seed_model.ts";
import { onnxRunner, tfjsRunner } from "@/model/runner.ts";
import { toOnnx } from "@/model/onnx.ts";
import { Rng } from "@/rng.ts";
import { SHARED_MOBILENET } from "../fixtures.ts";

await initBackend({ quiet: true });

/** Random BatchNorm statistics and affine parameters, seeded. */
function randomizeBatchNorm(model: tf.LayersModel, seed: number): void {
  const rng = new Rng(seed);
  for (const layer of model.layers) {
    if (layer.getClassName() !== "BatchNormalization") continue;
    layer.setWeights(
      layer.getWeights().map((w, i) => {
        const variance = (layer.weights[i].originalName ?? "").endsWith("variance");
        const values = Float32Array.from(
          { length: w.size },
          () => variance ? 0.5 + rng.next() : rng.next() - 0.5,
        );
        return tf.tensor(values, w.shape);
      }),
    );
  }
}

const largest = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const furthest = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** ONNX Runtime against tfjs at the trunk cut and at both heads' probabilities. */
async function compare(model: SeedModel, n: number): Promise<void> {
  const { backbone } = model;
  const size = backbone.size;
  // Noise, not a smooth picture: a window shifted by one pixel must show.
  const rng = new Rng("onnx-images");
  const images = Float32Array.from({ length: n * size * size * 3 }, () => rng.next() * 2 - 1);
  const { trunk } = splitBackbone(backbone);
  const native = await onnxRunner([trunk], { threads: 2 });
  const [ours] = await native.run(images, n);
  const [reference] = await tfjsRunner(trunk, [size, size, 3]).run(images, n);
  await native.dispose();
  assert.equal(ours.length, reference.length);
  const scale = largest(reference);
  assert.ok(scale > 1, `activations of some size (${scale})`);
  const off = furthest(ours, reference);
  assert.ok(
    off < 1e-4,
    `${backbone.spec.name} trunk: max |difference| ${off} (values to ${scale})`,
  );

  const heads = await onnxRunner([backbone.model, model.head], {
    outputs: [1, 2],
    softmax: true,
    threads: 2,
  });
  const [main, aux] = await heads.run(images, n);
  await heads.dispose();
  const [want, wantAux] = tf.tidy(() => {
    const features = backbone.model.predict(tf.tensor4d(images, [n, size, size, 3])) as tf.Tensor;
    const [, m, a] = model.head.predict(features) as tf.Tensor[];
    return [tf.softmax(m).dataSync() as Float32Array, tf.softmax(a).dataSync() as Float32Array];
  });
  assert.ok(largest(want) > 0.2, "probabilities that are not all alike");
  assert.ok(furthest(main, want) < 1e-4, `main: ${furthest(main, want)}`);
  assert.ok(furthest(aux, wantAux) < 1e-4, `aux: ${furthest(aux, wantAux)}`);
}

Deno.test("ONNX: MobileNetV2 with its ImageNet weights, on ONNX Runtime, is tfjs within 1e-4", async () => {
  const backbone = buildBackbone("mobilenet_v2", { alpha: 0.35 });
  await loadPretrained(backbone, SHARED_MOBILENET);
  const model = buildSeedModel(backbone, { classes: 10, seed: 3 });
  // Heads with weights large enough to tell the classes apart.
  for (const layer of model.head.layers) {
    layer.setWeights(layer.getWeights().map((w) => tf.mul(w, 8)));
  }
  await compare(model, 3);
});

Deno.test("ONNX: Xception (separable convolutions, max pooling) on ONNX Runtime is tfjs within 1e-4", async () => {
  // 99 px: a pooling input of even size (24) on the way, where "same" pads one side only.
  const backbone = buildBackbone("xception", { size: 99 });
  randomizeBatchNorm(backbone.model, 5);
  const model = buildSeedModel(backbone, { classes: 5, seed: 1 });
  for (const layer of model.head.layers) {
    layer.setWeights(layer.getWeights().map((w) => tf.mul(w, 8)));
  }
  await compare(model, 2);
});

Deno.test("ONNX: a layer the writer does not know is named", async () => {
  const input = tf.input({ shape: [8] });
  const output = tf.layers.dropout({ rate: 0.5, name: "odd_dropout" }).apply(input);
  const model = tf.model({ inputs: input, outputs: output as tf.SymbolicTensor });
  await assert.rejects(toOnnx([model]), /onnx: layer odd_dropout \(Dropout\) is not written/);
});
