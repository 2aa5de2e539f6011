/// <reference lib="dom" />
/**
 * Using a trained model (issue: predict, export, ensemble), on two quick runs of three real
 * ImageWoof breeds (the pretrained head-only stage, same split, two seeds): `deno task predict`
 * on photos and folders, the same numbers as the submission files; `deno task export` loaded by
 * plain TF.js on the cpu backend, within 1e-4 of the project's own predictions, and its page in
 * headless Chromium naming the right breed; `deno task ensemble` averaging the two runs.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { initBackend, tf } from "@/engine/tf.ts";
import { featureMapModel, gradCam } from "@/predict/gradcam.ts";
import { reproduce } from "@/pipeline/reproduce.ts";
import { PRESETS } from "@/run/presets.ts";
import { loadFinalModel, predictPhotos } from "@/predict/predict.ts";
import { predictFiles } from "@/predict/photos.ts";
import { blend } from "@/model/blend.ts";
import { cacheImages } from "@/data/cache.ts";
import { scaledPhotos } from "@/augment/batch.ts";
import { readRows, readTable } from "@/data/table.ts";
import { linkSubset } from "@/data/subset.ts";
import { onnxRuntime } from "@/engine/onnx.ts";
import { exists } from "@/files.ts";
import { cli, SHARED_IMAGEWOOF, SHARED_MOBILENET, tempDir } from "../fixtures.ts";
import { launchChromium, y4m } from "../fixtures/browser.ts";
import { serveFolder } from "@/predict/serve.ts";
import sharp from "sharp";

await initBackend({ quiet: true });

// Samoyed, Rhodesian ridgeback, beagle: three breeds a head on ImageNet features tells apart.
const BREEDS = ["n02111889", "n02087394", "n02088364"];
const PRESET = PRESETS.quick;
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

const dir = await tempDir();
const data = join(dir, "data");
const cache = join(dir, "cache");
await linkSubset(SHARED_IMAGEWOOF, data, { classes: BREEDS, perClass: 40 });
const runs = [join(dir, "seed0"), join(dir, "seed1")];
for (const [seed, out] of runs.entries()) {
  await reproduce({
    data,
    weights: SHARED_MOBILENET,
    out,
    preset: PRESET,
    seed,
    splitSeed: 0,
    cacheDir: cache,
    log: () => {},
  });
}
const testIds = await readTable(join(runs[0], "train", "test_answers.tsv"));
const pathOf = new Map(
  (await readTable(join(runs[0], "train", "split.tsv"))).map((r) => [r.id, r.path]),
);

Deno.test("predict: photos and folders, top-K, unreadable photos named, same numbers as submissions", async () => {
  const photos = join(dir, "photos");
  await Deno.mkdir(join(photos, "nested"), { recursive: true });
  const [a, b] = testIds.slice(0, 2);
  await Deno.copyFile(pathOf.get(a.id)!, join(photos, "a.jpg"));
  await Deno.copyFile(pathOf.get(b.id)!, join(photos, "nested", "b.jpg"));
  await Deno.writeTextFile(join(photos, "nested", "broken.jpg"), "not a photo");
  await Deno.writeTextFile(join(photos, "notes.txt"), "not a photo either");
  const single = pathOf.get(testIds[2].id)!;
  const out = await cli(
    "predict",
    "--run",
    runs[0],
    "--top",
    "2",
    "--json",
    photos,
    single,
    "--cache-dir",
    cache,
  ).output();
  assert.equal(out.code, 0, decode(out.stderr));
  const results = JSON.parse(decode(out.stdout));
  assert.deepEqual(results.map((r: { path: string }) => r.path), [
    join(photos, "a.jpg"),
    join(photos, "nested", "b.jpg"),
    join(photos, "nested", "broken.jpg"),
    single,
  ]);
  assert.match(results[2].error, /.+/);
  assert.equal(results[2].top, undefined);
  // A folder's file that is no photo by its name is left out, and said so; named, it is tried.
  assert.match(
    decode(out.stderr),
    /left out 1 file\(s\) .* not photos by their names \(.*notes\.txt\)/,
  );
  const named = await cli("predict", "--run", runs[0], join(photos, "notes.txt")).output();
  assert.match(
    decode(named.stdout),
    /notes\.txt: cannot read: not a photo's name \(a folder skips it\), and /,
  );
  // The submission's blended probabilities for the same photos (alpha of the run).
  const probs = await readTable(
    join(runs[0], "submissions", "before-transfer", "probabilities.tsv"),
  );
  const run = await loadFinalModel(runs[0]);
  for (const [i, id] of [[0, a.id], [1, b.id], [3, testIds[2].id]] as const) {
    const row = probs.find((r) => r.image_id === id)!;
    const top = results[i].top as { label: string; probability: number }[];
    assert.equal(top.length, 2);
    assert.ok(top[0].probability >= top[1].probability);
    for (const guess of top) {
      const want = run.alpha * Number(row[`main_${guess.label}`]) +
        (1 - run.alpha) * Number(row[`aux_${guess.label}`]);
      assert.ok(Math.abs(guess.probability - want) < 2e-6, `${id} ${guess.label}`);
    }
  }
  // The library's predictFiles defaults to the run's own flip too (the quick preset's: on).
  assert.equal(run.flip, true);
  const [own] = await predictFiles(run, [pathOf.get(a.id)!], { top: 1, cacheDir: cache });
  const row = probs.find((r) => r.image_id === a.id)!;
  const label = own.top![0].label;
  const want = run.alpha * Number(row[`main_${label}`]) +
    (1 - run.alpha) * Number(row[`aux_${label}`]);
  assert.ok(Math.abs(own.top![0].probability - want) < 2e-6, "predictFiles: the submission's");
  // The plain form: one line per photo, the unreadable one saying why.
  const text = await cli("predict", "--run", runs[0], photos, "--cache-dir", cache).output();
  const lines = decode(text.stdout).trim().split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[2], /broken\.jpg: cannot read: /);
  assert.match(lines[0], /a\.jpg: .+ \(n\d+\) [\d.]+%, .+, .+/);
  assert.match(decode(text.stderr), /^1 of 3 photo\(s\) could not be read \(named above\)$/m);
  // --tsv: a header, then one row per guess (rank 1..K), errors as rank 0.
  const tsv = await cli("predict", "--run", runs[0], photos, "--tsv", "--top", "2").output();
  const rows = decode(tsv.stdout).trim().split("\n").map((r) => r.split("\t"));
  assert.deepEqual(rows[0], ["path", "rank", "label", "name", "probability"]);
  assert.deepEqual(rows.slice(1).map((r) => r[1]), ["1", "2", "1", "2", "0"]);
  assert.ok(rows.slice(1, 5).every((r) => BREEDS.includes(r[2]) && Number(r[4]) > 0));
  assert.equal(rows[5][0], join(photos, "nested", "broken.jpg"));
  // Nothing readable: every photo's reason, then a failing exit status.
  const none = await cli("predict", "--run", runs[0], join(photos, "nested", "broken.jpg"))
    .output();
  assert.equal(none.code, 2);
  assert.match(decode(none.stdout), /broken\.jpg: cannot read: /);
  assert.match(decode(none.stderr), /error: .*broken\.jpg: none of the 1 photo\(s\) could be read/);
});

Deno.test("export: plain TF.js on the cpu backend gives the project's predictions; BatchNorm folded", async () => {
  const out = join(dir, "export");
  // An --out that is a file: one line, the file untouched.
  const file = join(dir, "a-file");
  await Deno.writeTextFile(file, "mine");
  const onFile = await cli("export", "--run", runs[0], "--out", file).output();
  assert.equal(onFile.code, 2);
  assert.match(decode(onFile.stderr), new RegExp(`error: ${file}: not a folder: --out names`));
  assert.ok(!/\bat .*\.ts:\d+/.test(decode(onFile.stderr)), "no stack trace");
  assert.equal(await Deno.readTextFile(file), "mine");
  const exported = await cli("export", "--run", runs[0], "--out", out).output();
  assert.equal(exported.code, 0, decode(exported.stderr));
  const topology = await Deno.readTextFile(join(out, "model.json"));
  assert.ok(!topology.includes('"BatchNormalization"'), "no BatchNormalization layer left");
  const labels = JSON.parse(await Deno.readTextFile(join(out, "labels.json")));
  assert.deepEqual(labels.map((l: { label: string }) => l.label), [...BREEDS].sort());
  const pre = JSON.parse(await Deno.readTextFile(join(out, "preprocess.json")));
  assert.equal(pre.size, 224);

  const ids = testIds.slice(0, 5).map((t) => t.id);
  const photos = await cacheImages(ids.map((id) => ({ id, path: pathOf.get(id)! })), {
    size: 224,
    dir: cache,
  });
  const inputs = join(dir, "inputs.f32");
  await Deno.writeFile(inputs, new Uint8Array(scaledPhotos(photos, ids).buffer));
  const run = await loadFinalModel(runs[0]);
  const ours = await predictPhotos(run.model, photos, ids);
  photos.close();
  const want = blend(ours.main, ours.aux, run.alpha);
  const plain = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "test/fixtures/load_export.ts", out, inputs],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(plain.code, 0, decode(plain.stderr));
  const got = JSON.parse(decode(plain.stdout).trim().split("\n").at(-1)!);
  assert.equal(got.backend, "cpu");
  assert.equal(got.outputs, 1);
  assert.deepEqual(got.shape, [5, 3]);
  const diff = Math.max(...got.values.map((v: number, i: number) => Math.abs(v - want[i])));
  assert.ok(diff < 1e-4, `max |difference| ${diff}`);

  // The ONNX model beside it, in onnxruntime-node: a softmax of its logits is the same blend,
  // and with --flip the blend of predict's flip test-time augmentation.
  const images = new Float32Array((await Deno.readFile(inputs)).buffer);
  const onnxDiff = async (folder: string, expected: Float32Array) => {
    const config = JSON.parse(await Deno.readTextFile(join(folder, "config.json")));
    assert.deepEqual(config.dog_breeds.labels, [...BREEDS].sort());
    assert.equal(Object.keys(config.id2label).length, 3);
    const got = await onnxProbabilities(join(folder, "onnx", "model.onnx"), images, 5, 224);
    return Math.max(...got.map((v, i) => Math.abs(v - expected[i])));
  };
  const onnxPlain = await onnxDiff(out, want);
  assert.ok(onnxPlain < 1e-4, `ONNX: max |difference| ${onnxPlain}`);
  const flipped = join(dir, "export-flip");
  const withFlip = await cli("export", "--run", runs[0], "--out", flipped, "--flip").output();
  assert.equal(withFlip.code, 0, decode(withFlip.stderr));
  const reread = await cacheImages(ids.map((id) => ({ id, path: pathOf.get(id)! })), {
    size: 224,
    dir: cache,
  });
  const both = await predictPhotos(run.model, reread, ids, { flip: true });
  reread.close();
  const wantFlip = blend(both.main, both.aux, run.alpha);
  assert.ok(Math.max(...wantFlip.map((v, i) => Math.abs(v - want[i]))) > 1e-4, "flip changes it");
  const onnxFlip = await onnxDiff(flipped, wantFlip);
  assert.ok(onnxFlip < 1e-4, `ONNX with flip: max |difference| ${onnxFlip}`);
  // What preprocessor_config.json says is the project's scaling: (x / 255 - 0.5) / 0.5.
  const pre2 = JSON.parse(await Deno.readTextFile(join(out, "preprocessor_config.json")));
  for (const x of [0, 77, 255]) {
    assert.ok(
      Math.abs(
        (x * pre2.rescale_factor - pre2.image_mean[0]) / pre2.image_std[0] - (x / 127.5 - 1),
      ) <
        1e-9,
    );
  }
  assert.deepEqual([pre2.crop_size.height, pre2.size.shortest_edge], [224, 224]);
});

/** The softmax of an exported ONNX model's logits for NHWC images, in onnxruntime-node. */
async function onnxProbabilities(
  path: string,
  nhwc: Float32Array,
  n: number,
  size: number,
): Promise<Float32Array> {
  const ort = await onnxRuntime();
  const planar = new Float32Array(nhwc.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          planar[((b * 3 + c) * size + y) * size + x] = nhwc[((b * size + y) * size + x) * 3 + c];
        }
      }
    }
  }
  const session = await ort.InferenceSession.create(path);
  try {
    const { logits } = await session.run({
      pixel_values: new ort.Tensor("float32", planar, [n, 3, size, size]),
    });
    const values = logits.data as Float32Array;
    const k = values.length / n;
    const out = new Float32Array(values.length);
    for (let b = 0; b < n; b++) {
      const row = values.subarray(b * k, (b + 1) * k);
      const max = Math.max(...row);
      const exps = row.map((v) => Math.exp(v - max));
      const sum = exps.reduce((a, v) => a + v, 0);
      exps.forEach((v, c) => (out[b * k + c] = v / sum));
    }
    return out;
  } finally {
    await session.release();
  }
}

/** Planar `pixel_values` of RGB images (each size x size x 3 bytes), scaled x / 127.5 - 1. */
function pixelValues(images: Uint8Array[], size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(images.length * 3 * plane);
  images.forEach((rgb, b) => {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) out[(b * 3 + c) * plane + p] = rgb[3 * p + c] / 127.5 - 1;
    }
  });
  return out;
}

/** predict's blended probabilities for RGB frames (size x size), written as PNGs into `folder`:
 * the same decoding, cache and prediction as `deno task predict`. */
async function predictFrames(frames: Uint8Array[], folder: string): Promise<Float32Array> {
  const run = await loadFinalModel(runs[0]);
  await Deno.mkdir(folder, { recursive: true });
  const items = await Promise.all(frames.map(async (rgb, i) => {
    const path = join(folder, `frame${i}.png`);
    await sharp(rgb, { raw: { width: 224, height: 224, channels: 3 } }).png().toFile(path);
    return { id: `frame${i}`, path };
  }));
  const cached = await cacheImages(items, { size: 224, dir: cache });
  const p = await predictPhotos(run.model, cached, items.map((i) => i.id));
  cached.close();
  return blend(p.main, p.aux, run.alpha);
}

/** The probabilities ONNX Runtime (native) gives an exported model for RGB frames. */
async function onnxFrames(model: string, frames: Uint8Array[]): Promise<Float32Array> {
  const ort = await onnxRuntime();
  const session = await ort.InferenceSession.create(model);
  try {
    const x = pixelValues(frames, 224);
    const { logits } = await session.run({
      pixel_values: new ort.Tensor("float32", x, [frames.length, 3, 224, 224]),
    });
    return Float32Array.from(logits.data as Float32Array, Math.exp);
  } finally {
    await session.release();
  }
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
const rgbOf = (rgba: number[]) =>
  Uint8Array.from(
    { length: (rgba.length / 4) * 3 },
    (_, i) => rgba[Math.floor(i / 3) * 4 + (i % 3)],
  );

/** Test photos as the model sees them: the cache's center square at 224, RGB. */
async function testFrames(count: number): Promise<{ ids: string[]; frames: Uint8Array[] }> {
  const ids = testIds.slice(0, count).map((t) => t.id);
  const photos = await cacheImages(ids.map((id) => ({ id, path: pathOf.get(id)! })), {
    size: 224,
    dir: cache,
  });
  const frames = ids.map((id) => photos.read(id).data.slice());
  photos.close();
  return { ids, frames };
}

type PageApi = {
  ready: Promise<unknown>;
  last?: { probs: number[] };
  frames: { rgba: number[]; probs: number[] }[];
};

Deno.test("export: onnxruntime-web in Chromium gives predict's probabilities, fp32 and int8; names are text", async () => {
  const out = join(dir, "export-web");
  const exported = await cli(
    "export",
    "--run",
    runs[0],
    "--out",
    out,
    "--int8",
    "always",
    "--cache-dir",
    cache,
  ).output();
  assert.equal(exported.code, 0, decode(exported.stderr));
  assert.match(decode(exported.stdout), /int8: .*model_quantized\.onnx: [\d.]+% against fp32/);
  const { frames } = await testFrames(3);
  await sharp(frames[0], { raw: { width: 224, height: 224, channels: 3 } }).png()
    .toFile(join(out, "photo.png"));
  const want = await predictFrames([frames[0]], join(dir, "frames-photo"));
  const int8Native = await onnxFrames(join(out, "onnx", "model_quantized.onnx"), [frames[0]]);
  const server = serveFolder(out, { isolated: true });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const outside: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(server.origin) && !/^(data|blob):/.test(r.url())) {
        outside.push(r.url());
      }
    });
    const classify = async (query: string) => {
      await page.goto(`${server.origin}/index.html?${query}`);
      return await page.evaluate(async () => {
        const api = (globalThis as unknown as { dogBreeds: PageApi }).dogBreeds;
        await api.ready;
        const start = Date.now();
        while (!api.last && Date.now() - start < 60_000) {
          await new Promise((r) => setTimeout(r, 20));
        }
        return {
          probs: api.last?.probs ?? [],
          status: document.getElementById("status")!.textContent,
          title: document.title,
          cells: [...document.querySelectorAll("td")].map((td) => td.innerHTML),
          threads: (api as unknown as { threads: number }).threads,
        };
      });
    };
    const fp32 = await classify("photo=photo.png");
    assert.equal(fp32.threads, 2, "a cross-origin isolated page runs two threads");
    assert.equal(fp32.probs.length, 3);
    assert.ok(
      maxDiff(fp32.probs, want) < 1e-4,
      `fp32: max |difference| ${maxDiff(fp32.probs, want)}`,
    );
    const best = want.indexOf(Math.max(...want));
    const run = await loadFinalModel(runs[0]);
    assert.equal(
      fp32.status,
      `Most likely: ${run.labels.nameOf(best)} (${run.labels.toLabel(best)})`,
    );
    // The dataset is <dir>/data: a generic folder's name, so its parent's names it.
    assert.equal(fp32.title, `Which breed? (${basename(dir)}, 3 breeds)`);
    // int8 in the browser computes what it computes natively, close to fp32.
    const int8 = await classify("photo=photo.png&model=int8");
    assert.ok(maxDiff(int8.probs, int8Native) < 1e-3, `int8: ${maxDiff(int8.probs, int8Native)}`);
    assert.ok(maxDiff(int8.probs, want) < 0.05, `int8 against fp32: ${maxDiff(int8.probs, want)}`);
    assert.deepEqual(outside, [], "nothing loaded from outside the export folder");
    assert.ok(server.requests.every((r) => !r.includes("..")));

    // A file that is no photo: the page says so instead of nothing.
    await Deno.writeTextFile(join(out, "notes.jpg"), "not a photo");
    await page.goto(`${server.origin}/index.html?photo=notes.jpg`);
    await page.waitForFunction(() =>
      /^Could not/.test(document.getElementById("status")!.textContent!)
    );
    assert.equal(
      await page.$eval("#status", (e) => e.textContent),
      "Could not read notes.jpg as a photo: choose a JPEG, PNG or WebP.",
    );

    // Names and title as markup (they come from the dataset's folders): shown as text, never run.
    const hostile = `<img src=x onerror="document.body.dataset.pwned=1">'"&`;
    const config = JSON.parse(await Deno.readTextFile(join(out, "config.json")));
    config.dog_breeds.names = config.dog_breeds.names.map(() => hostile);
    config.dog_breeds.title = hostile;
    await Deno.writeTextFile(join(out, "config.json"), JSON.stringify(config));
    const escaped = hostile.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
      ">",
      "&gt;",
    );
    const shown = await classify("photo=photo.png");
    assert.equal(shown.status, `Most likely: ${hostile} (${run.labels.toLabel(best)})`);
    assert.equal(shown.title, hostile);
    assert.ok(shown.cells.includes(escaped), "the name is in the table, as text");
    assert.equal(await page.evaluate(() => document.body.dataset.pwned), undefined);
    assert.equal(await page.$("td img"), null, "no element made from a name");
  } finally {
    await browser.close();
    await server.close();
  }
  // Double-clicked (a file:// page): one sentence on how to serve the folder.
  const local = await launchChromium();
  try {
    const page = await local.newPage();
    await page.goto(`file://${join(out, "index.html")}`);
    await page.waitForFunction(() =>
      /^This page/.test(document.getElementById("status")!.textContent!)
    );
    assert.match(
      (await page.$eval("#status", (e) => e.textContent))!,
      /^This page was opened from a file, .*\(python3 -m http\.server --bind 127\.0\.0\.1 -d <this folder>\) and open http:\/\/127\.0\.0\.1:8000 instead\.$/,
    );
  } finally {
    await local.close();
  }
});

Deno.test("export: the page classifies a fake camera's frames as predict does, fp32 and int8", async () => {
  const out = join(dir, "export-web");
  const { frames } = await testFrames(3);
  const video = join(dir, "camera.y4m");
  await Deno.writeFile(video, y4m(frames, 224, 4));
  const server = serveFolder(out, { isolated: false });
  const browser = await launchChromium({ camera: video });
  try {
    const page = await browser.newPage();
    for (const model of ["fp32", "int8"]) {
      await page.goto(`${server.origin}/index.html?camera&model=${model}`);
      const seen = await page.evaluate(async () => {
        const api = (globalThis as unknown as { dogBreeds: PageApi }).dogBreeds;
        await api.ready;
        const start = Date.now();
        while (api.frames.length < 6 && Date.now() - start < 60_000) {
          await new Promise((r) => setTimeout(r, 50));
        }
        return {
          frames: api.frames.slice(-6),
          status: document.getElementById("status")!.textContent,
          fps: document.getElementById("fps")!.textContent,
        };
      });
      assert.equal(seen.frames.length, 6, `${model}: six frames classified`);
      assert.match(seen.status!, /^Camera: most likely .+ \(n\d+\)$/);
      assert.match(seen.fps!, /^\d+ frames\/s$/);
      const rgb = seen.frames.map((f) => rgbOf(f.rgba));
      const want = await predictFrames(rgb, join(dir, `frames-${model}`));
      seen.frames.forEach((frame, i) => {
        const row = want.subarray(i * 3, i * 3 + 3);
        const diff = maxDiff(frame.probs, row);
        if (model === "fp32") assert.ok(diff < 1e-4, `frame ${i}: max |difference| ${diff}`);
        else {
          const top = (p: ArrayLike<number>) => Array.from(p).indexOf(Math.max(...Array.from(p)));
          assert.equal(top(frame.probs), top(row), `frame ${i}: int8's top breed is predict's`);
          assert.ok(diff < 0.05, `frame ${i}: int8 against predict ${diff}`);
        }
      });
    }
    assert.ok(server.requests.every((r) => !r.includes("..")));
  } finally {
    await browser.close();
    await server.close();
  }
});

Deno.test("export: --int8 never leaves no int8 model of an earlier export; --names names the labels", async () => {
  const out = join(dir, "export-web");
  assert.ok(await exists(join(out, "onnx", "model_quantized.onnx")), "the earlier export's");
  const names = join(dir, "names.tsv");
  await Deno.writeTextFile(names, `label\tname\n${BREEDS[0]}\tFluffy white dog\n99\tunused\n`);
  const again = await cli(
    "export",
    "--run",
    runs[0],
    "--out",
    out,
    "--int8",
    "never",
    "--names",
    names,
  ).output();
  assert.equal(again.code, 0, decode(again.stderr));
  assert.ok(!(await exists(join(out, "onnx", "model_quantized.onnx"))), "no stale int8 model");
  const config = JSON.parse(await Deno.readTextFile(join(out, "config.json")));
  assert.equal(config.dog_breeds.int8, undefined);
  const index = [...BREEDS].sort().indexOf(BREEDS[0]);
  assert.equal(config.dog_breeds.names[index], "Fluffy white dog");
  assert.equal(config.id2label[String(index)], "Fluffy white dog");
  const labels = JSON.parse(await Deno.readTextFile(join(out, "labels.json")));
  assert.equal(labels[index].name, "Fluffy white dog");
  // The same names in predict's answers.
  const photo = pathOf.get(testIds[0].id)!;
  const predicted = await cli(
    "predict",
    "--run",
    runs[0],
    "--names",
    names,
    "--tsv",
    "--top",
    "3",
    photo,
  )
    .output();
  assert.match(decode(predicted.stdout), new RegExp(`\\t${BREEDS[0]}\\tFluffy white dog\\t`));
  // A bad names file or mode: one line, nothing exported.
  await Deno.writeTextFile(names, `${BREEDS[0]} has no tab\n`);
  const bad = await cli("export", "--run", runs[0], "--out", join(dir, "never"), "--names", names)
    .output();
  assert.equal(bad.code, 2);
  assert.equal(
    decode(bad.stderr).trim(),
    `error: ${names}:1: expected 'label<TAB>name' on each line`,
  );
  assert.ok(!(await exists(join(dir, "never"))));
  const mode = await cli("export", "--run", runs[0], "--out", join(dir, "never"), "--int8", "maybe")
    .output();
  assert.equal(decode(mode.stderr).trim(), "error: --int8 'maybe': expected auto, always, never");
});

Deno.test("Grad-CAM: a dog pasted at two places on a grey canvas moves the heatmap's peak with it", async () => {
  const run = await loadFinalModel(runs[0]);
  const samoyed = testIds.find((t) => t.label === BREEDS[0])!;
  const dog = new Uint8Array(
    await sharp(pathOf.get(samoyed.id)!).resize(96, 96).removeAlpha().raw().toBuffer(),
  );
  /** The dog at (x, y) on a grey 224 x 224 canvas, scaled as the model reads it. */
  const canvas = (x: number, y: number) => {
    const rgb = new Uint8Array(224 * 224 * 3).fill(128);
    for (let r = 0; r < 96; r++) {
      rgb.set(dog.subarray(r * 96 * 3, (r + 1) * 96 * 3), ((y + r) * 224 + x) * 3);
    }
    return Float32Array.from(rgb, (v) => v / 127.5 - 1);
  };
  const features = featureMapModel(run.model);
  const before = tf.memory().numTensors;
  try {
    // 7 x 7 cells of 32 pixels: the cells whose centers lie on the dog are 0-2 for a dog at
    // 8..104 and 4-6 for one at 120..216 (9 of the 49 cells).
    for (const [at, cells] of [[8, [0, 2]], [120, [4, 6]]] as const) {
      const [map] = await gradCam(run.model, features, canvas(at, at), 1, { head: "aux" });
      assert.equal(run.labels.toLabel(map.classIndex), BREEDS[0], "it sees the Samoyed");
      const inside = (v: number) => v >= cells[0] && v <= cells[1];
      const peak = map.values.indexOf(1);
      const [row, col] = [Math.floor(peak / map.side), peak % map.side];
      assert.ok(inside(row) && inside(col), `dog at ${at}: peak at cell ${row}, ${col}`);
      const onDog = map.values.reduce(
        (s, v, i) => (inside(Math.floor(i / map.side)) && inside(i % map.side) ? s + v : s),
        0,
      );
      const share = onDog / map.values.reduce((s, v) => s + v, 0);
      assert.ok(share > 0.5, `dog at ${at}: ${share.toFixed(2)} of the heat on its 18% of cells`);
    }
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  } finally {
    features.dispose();
  }
});

Deno.test("ensemble: two runs of one split averaged, alpha searched on their validation photos", async () => {
  const out = join(dir, "ensemble");
  const run = await cli("ensemble", "--runs", ...runs, "--out", out, "--cache-dir", cache).output();
  const stdout = decode(run.stdout);
  assert.equal(run.code, 0, decode(run.stderr));
  // One split: every run predicts the same validation photos (not out of fold).
  assert.match(
    stdout,
    /^alpha [\d.]+: validation accuracy of the averaged best models [\d.]+% on \d+ photos$/m,
  );
  assert.match(stdout, /^ensemble of 2: blend [\d.]+%$/m);
  const rows = await readRows(join(out, "submission_blend.txt"), { delimiter: "\t" });
  assert.deepEqual(rows.map((r) => r[1]).sort(), testIds.map((t) => t.id).sort());
  // The averaged probabilities are the mean of the two runs'.
  const [p0, p1, avg] = await Promise.all([
    readTable(join(runs[0], "submissions", "before-transfer", "probabilities.tsv")),
    readTable(join(runs[1], "submissions", "before-transfer", "probabilities.tsv")),
    readTable(join(out, "probabilities.tsv")),
  ]);
  const column = `main_${BREEDS[0]}`;
  for (const [i, row] of avg.entries()) {
    const mean = (Number(p0[i][column]) + Number(p1[i][column])) / 2;
    assert.ok(Math.abs(Number(row[column]) - mean) < 2e-6);
  }
  const summary = JSON.parse(await Deno.readTextFile(join(out, "ensemble.json")));
  assert.equal(summary.alphaSearched, true);

  // --alpha: no search, and the blend file is that blend of the averaged heads.
  const fixed = join(dir, "ensemble-alpha");
  const stated = await cli("ensemble", "--runs", ...runs, "--out", fixed, "--alpha", "0").output();
  assert.equal(stated.code, 0, decode(stated.stderr));
  assert.doesNotMatch(decode(stated.stdout), /validation accuracy of the averaged/);
  const noted = JSON.parse(await Deno.readTextFile(join(fixed, "ensemble.json")));
  assert.deepEqual([noted.alpha, noted.alphaSearched], [0, false]);
  // Alpha 0 is the auxiliary head alone: the blend file says what the aux file says.
  assert.equal(
    await Deno.readTextFile(join(fixed, "submission_blend.txt")),
    await Deno.readTextFile(join(fixed, "submission_aux.txt")),
  );

  // One run named twice, through a symlink or as a copy of its folder, is one run.
  const link = join(dir, "seed0-link");
  const copy = join(dir, "seed0-copy");
  await Deno.symlink(runs[0], link);
  assert.equal((await new Deno.Command("cp", { args: ["-a", runs[0], copy] }).output()).code, 0);
  const twice = await cli("ensemble", "--runs", runs[0], runs[0], "--out", join(dir, "y")).output();
  assert.equal(
    decode(twice.stderr).trim(),
    `error: --runs names ${runs[0]} twice: an ensemble averages other runs`,
  );
  for (const twin of [link, copy]) {
    const same = await cli("ensemble", "--runs", runs[0], twin, "--out", join(dir, "y")).output();
    assert.equal(same.code, 2, decode(same.stderr));
    assert.equal(
      decode(same.stderr).trim(),
      `error: --runs: ${runs[0]} and ${twin} are one run (the same dataset, preset, seed, ` +
        "weights and settings): an ensemble averages different runs (other seeds, presets or " +
        "backbones)",
    );
  }
  await Deno.remove(copy, { recursive: true });

  // Runs of another split are refused with one line.
  const other = join(dir, "other-split");
  await reproduce({
    data,
    weights: SHARED_MOBILENET,
    out: other,
    preset: PRESET,
    seed: 2,
    cacheDir: cache,
    log: () => {},
  });
  const refused = await cli("ensemble", "--runs", runs[0], other, "--out", join(dir, "x")).output();
  assert.equal(refused.code, 2);
  assert.match(
    decode(refused.stderr),
    /probabilities\.tsv: its test ids differ from .*--split-seed/,
  );
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
