import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { assignWeights, buildBackbone, disposeWeightFile, readWeightFile } from "@/model/index.ts";
import { loadImage } from "@/data/image.ts";
import { scaleInto } from "@/augment/batch.ts";
import { SHARED_IMAGEWOOF, SHARED_MOBILENET, tempDir } from "../fixtures.ts";
import { writeKerasH5 } from "./h5_writer.ts";
import { DataError } from "@/errors.ts";
import { weightFileOf } from "@/model/weights.ts";
import { digest } from "@/download.ts";
import { sha256Hex } from "@/files.ts";

await initBackend({ quiet: true });

async function realPhotos(n: number): Promise<tf.Tensor4D> {
  const dir = join(SHARED_IMAGEWOOF, "n02088364");
  const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort().slice(0, n);
  const out = new Float32Array(n * 224 * 224 * 3);
  for (let i = 0; i < n; i++) {
    scaleInto((await loadImage(join(dir, names[i]), { size: 224 })).data, out, i * 224 * 224 * 3);
  }
  return tf.tensor4d(out, [n, 224, 224, 3]);
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

Deno.test("shared MobileNetV2-0.35: model.json and keras_model.h5 give the same features; random init does not", async () => {
  const photos = await realPhotos(3);
  const features = async (source?: string) => {
    const net = buildBackbone("mobilenet_v2", { alpha: 0.35 });
    if (source) {
      const file = await readWeightFile(source);
      const report = assignWeights(net.model, file);
      assert.equal(report.matchedBy, "name");
      assert.equal(report.loaded.length, 104);
      // Teachable Machine's own dense head is in the file and is dropped.
      assert.ok(
        report.unused.length === 3 && report.unused.every((k) => k.startsWith("dense_Dense")),
        `${report.unused}`,
      );
      disposeWeightFile(file);
    }
    return net.model.predict(photos) as tf.Tensor;
  };
  const fromJson = await features(join(SHARED_MOBILENET, "model.json"));
  const fromH5 = await features(join(SHARED_MOBILENET, "keras_model.h5"));
  const random = await features();
  assert.ok(maxDiff(fromJson, fromH5) < 1e-5, `json vs h5: ${maxDiff(fromJson, fromH5)}`);
  assert.ok(maxDiff(fromJson, random) > 0.1, "random weights give other features");
  assert.equal(
    (await readWeightFile(SHARED_MOBILENET)).source,
    join(SHARED_MOBILENET, "model.json"),
  );
  tf.dispose([photos, fromJson, fromH5, random]);
});

Deno.test("loading errors name the file, the layer and the shapes", async () => {
  const file = await readWeightFile(join(SHARED_MOBILENET, "keras_model.h5"));
  const wider = buildBackbone("mobilenet_v2", { alpha: 0.5, size: 96 });
  assert.throws(
    () => assignWeights(wider.model, file),
    /keras_model\.h5: layer 'block_1_project' weight 'kernel': file has shape \[1,1,48,8\], model expects \[1,1,48,16\]/,
  );
  const xception = buildBackbone("xception", { size: 71 });
  assert.throws(
    () => assignWeights(xception.model, file),
    /keras_model\.h5: no weights for layer 'block1_conv1' \(expects kernel \[3,3,3,32\]\)/,
  );
  disposeWeightFile(file);
  await assert.rejects(
    readWeightFile("/nonexistent/w.h5"),
    /\/nonexistent\/w\.h5: weights not found/,
  );
  const dir = await tempDir();
  await Deno.writeTextFile(join(dir, "bad.h5"), "not hdf5");
  await assert.rejects(readWeightFile(join(dir, "bad.h5")), /bad\.h5: not a readable HDF5 file/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Xception weights written in the Keras HDF5 layouts round-trip through the loader", async () => {
  const dir = await tempDir();
  const source = buildBackbone("xception", { size: 71 });
  const x = tf.randomUniform([1, 71, 71, 3], -1, 1, "float32", 3);
  const expected = source.model.predict(x) as tf.Tensor;
  const cases: [string, Parameters<typeof writeKerasH5>[2], "name" | "order"][] = [
    ["notop.h5", { layout: "notop" }, "name"],
    ["model.h5", { layout: "model", nested: "xception" }, "name"],
    // tf.keras auto-names the residual convs 0-based (conv2d, conv2d_1, ...): matched by order.
    ["tfkeras.h5", {
      layout: "notop",
      rename: (n: string) =>
        n.replace(
          /^(conv2d|batch_normalization)_(\d)$/,
          (_, p, i) => (i === "1" ? p : `${p}_${Number(i) - 1}`),
        ),
    }, "order"],
  ];
  for (const [name, layout, matchedBy] of cases) {
    const path = join(dir, name);
    await writeKerasH5(source.model, path, layout);
    const target = buildBackbone("xception", { size: 71 });
    const kernel = (net: typeof target) => net.model.getLayer("block1_conv1").getWeights()[0];
    assert.ok(maxDiff(kernel(target), kernel(source)) > 1e-3, "fresh init differs");
    const file = await readWeightFile(path);
    const report = assignWeights(target.model, file);
    assert.equal(report.matchedBy, matchedBy, name);
    assert.deepEqual(report.unused, [], name);
    target.model.weights.forEach((w, i) => {
      assert.deepEqual(
        w.read().dataSync(),
        source.model.weights[i].read().dataSync(),
        `${name}: ${w.name}`,
      );
    });
    const after = target.model.predict(x) as tf.Tensor;
    assert.ok(maxDiff(after, expected) < 1e-6, `${name}: ${maxDiff(after, expected)}`);
    disposeWeightFile(file);
    after.dispose();
  }
  tf.dispose([x, expected]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("truncated weights, or a Keras 3 archive, are an error naming the file, before any HDF5 diagnostics", async () => {
  const dir = await tempDir();
  // TF.js: model.json beside a weights.bin cut short.
  await Deno.copyFile(join(SHARED_MOBILENET, "model.json"), join(dir, "model.json"));
  const bin = await Deno.readFile(join(SHARED_MOBILENET, "weights.bin"));
  await Deno.writeFile(join(dir, "weights.bin"), bin.slice(0, 100_000));
  await assert.rejects(readWeightFile(join(dir, "model.json")), (e: Error) => {
    assert.ok(e instanceof DataError);
    assert.equal(
      e.message,
      `${join(dir, "weights.bin")}: truncated: 100000 bytes, model.json lists ${bin.length}`,
    );
    return true;
  });
  // Keras HDF5 cut short: its superblock still says how long it was.
  const h5 = await Deno.readFile(join(SHARED_MOBILENET, "keras_model.h5"));
  await Deno.writeFile(join(dir, "cut.h5"), h5.slice(0, 500_000));
  await assert.rejects(readWeightFile(join(dir, "cut.h5")), (e: Error) => {
    assert.ok(e instanceof DataError);
    assert.equal(
      e.message,
      `${join(dir, "cut.h5")}: truncated: 500000 bytes, its HDF5 superblock says ${h5.length}`,
    );
    return true;
  });
  // Keras 3's .keras is a zip archive: said so, with what to give instead.
  const zip = await new Deno.Command("python3", {
    args: [
      "-c",
      `import zipfile; zipfile.ZipFile("${
        join(dir, "m.keras")
      }", "w").writestr("config.json", "{}")`,
    ],
  }).output();
  assert.ok(zip.success);
  await assert.rejects(
    readWeightFile(join(dir, "m.keras")),
    /m\.keras: a zip archive \(Keras 3's \.keras format\), which this project does not read: give Keras 2 HDF5/,
  );
  await Deno.remove(dir, { recursive: true });
});

/** The weights' SHA-256 as run folders have recorded it (run.json's identity.weights.sha256):
 * each file hashed apart (a .h5, or model.json then its shards), the hashes joined by lines. */
async function recordedSha256(path: string): Promise<string> {
  const files = [await weightFileOf(path)];
  if (files[0].endsWith(".json")) {
    const manifest = JSON.parse(await Deno.readTextFile(files[0])).weightsManifest;
    files.push(
      ...manifest.flatMap((g: { paths: string[] }) =>
        g.paths.map((p) => join(dirname(files[0]), p))
      ),
    );
  }
  const hashes = [];
  for (const file of files) hashes.push(await digest(file, "sha256"));
  return sha256Hex(hashes.join("\n"));
}

Deno.test("the SHA-256 taken while reading is the one run folders record (they resume)", async () => {
  for (const source of [SHARED_MOBILENET, join(SHARED_MOBILENET, "keras_model.h5")]) {
    const file = await readWeightFile(source);
    disposeWeightFile(file);
    assert.equal(file.sha256, await recordedSha256(source), source);
  }
});
