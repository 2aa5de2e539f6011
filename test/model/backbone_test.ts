import assert from "node:assert/strict";
import { initBackend, tf } from "@/engine/tf.ts";
import { buildBackbone, splitBackbone } from "@/model/index.ts";
import { makeDivisible } from "@/model/mobilenet_v2.ts";
import { SHARED_MOBILENET } from "../fixtures.ts";

await initBackend({ quiet: true });

Deno.test("MobileNetV2(0.35, 224): 410,208 parameters, 1280 features, Keras layer names", async () => {
  const net = buildBackbone("mobilenet_v2", { alpha: 0.35 });
  assert.equal(net.model.countParams(), 410_208);
  assert.equal(net.features, 1280);
  // The Keras names, read from the real export in ../shared (its inner functional model).
  const json = JSON.parse(await Deno.readTextFile(`${SHARED_MOBILENET}/model.json`));
  const keras = json.modelTopology.config.layers[0].config.layers[0].config.layers
    .map((l: { name: string }) => l.name).filter((n: string) => n !== "input_1");
  const ours = net.model.layers.map((l) => l.name).filter((n) =>
    n !== "input_1" && n !== "global_average_pooling2d"
  );
  assert.deepEqual(ours, keras);
  assert.equal(makeDivisible(32 * 0.35), 16);
  assert.equal(makeDivisible(24 * 0.35), 8);
});

Deno.test("Xception(299): 20,861,480 parameters, 2048 features, Keras layer names", () => {
  const net = buildBackbone("xception");
  assert.equal(net.model.countParams(), 20_861_480);
  assert.equal(net.features, 2048);
  const names = net.model.layers.map((l) => l.name);
  assert.equal(names[1], "block1_conv1");
  assert.equal(names.at(-2), "block14_sepconv2_act");
  const weighted = net.model.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
  const expected = [
    "block1_conv1",
    "block1_conv1_bn",
    "block1_conv2",
    "block1_conv2_bn",
    ...[2, 3, 4].flatMap((
      b,
    ) => [
      `block${b}_sepconv1`,
      `block${b}_sepconv1_bn`,
      `block${b}_sepconv2`,
      `block${b}_sepconv2_bn`,
      `conv2d_${b - 1}`,
      `batch_normalization_${b - 1}`,
    ]),
    ...Array.from({ length: 8 }, (_, i) => i + 5).flatMap((b) =>
      [1, 2, 3].flatMap((k) => [`block${b}_sepconv${k}`, `block${b}_sepconv${k}_bn`])
    ),
    "block13_sepconv1",
    "block13_sepconv1_bn",
    "block13_sepconv2",
    "block13_sepconv2_bn",
    "conv2d_4",
    "batch_normalization_4",
    "block14_sepconv1",
    "block14_sepconv1_bn",
    "block14_sepconv2",
    "block14_sepconv2_bn",
  ];
  assert.deepEqual([...weighted].sort(), [...expected].sort());
});

Deno.test("split: trunk then top equals the whole backbone, sharing its weights", () => {
  const net = buildBackbone("mobilenet_v2", { alpha: 0.35, size: 96 });
  const { trunk, top } = splitBackbone(net);
  tf.tidy(() => {
    const x = tf.randomUniform([2, 96, 96, 3], -1, 1, "float32", 1);
    const whole = net.model.predict(x) as tf.Tensor;
    const parts = top.predict(trunk.predict(x) as tf.Tensor) as tf.Tensor;
    assert.ok(tf.max(tf.abs(tf.sub(whole, parts))).dataSync()[0] < 1e-5);
  });
  assert.equal(trunk.countParams() + top.countParams(), net.model.countParams());
  assert.throws(() => splitBackbone(net, "block_99"), /no stage 'block_99'/);
  // A cut is refused when the backbone is built, before any stage trains: neither an unknown
  // stage nor the first one (nothing left to freeze) is a cut.
  for (const unfreezeFrom of ["block_99", "stem"]) {
    assert.throws(
      () => buildBackbone("mobilenet_v2", { alpha: 0.35, size: 96, unfreezeFrom }),
      new RegExp(`no stage '${unfreezeFrom}' to unfreeze from \\(expected one of expanded_conv, `),
    );
  }
});
