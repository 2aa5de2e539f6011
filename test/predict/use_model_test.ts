/**
 * Using a trained model (issue: predict, export, ensemble), on two quick runs of three real
 * ImageWoof breeds (the pretrained head-only stage, same split, two seeds): `deno task predict`
 * on photos and folders, the same numbers as the submission files; `deno task export` loaded by
 * plain TF.js on the cpu backend, within 1e-4 of the project's own predictions, and its page in
 * headless Chromium naming the right breed; `deno task ensemble` averaging the two runs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "@/engine/tf.ts";
import { reproduce } from "@/pipeline/reproduce.ts";
import { PRESETS } from "@/run/presets.ts";
import { loadFinalModel, predictPhotos } from "@/predict/predict.ts";
import { blend } from "@/model/blend.ts";
import { cacheImages } from "@/data/cache.ts";
import { scaledPhotos } from "@/augment/batch.ts";
import { readRows, readTable } from "@/data/table.ts";
import { linkSubset } from "@/data/subset.ts";
import { onnxRuntime } from "@/engine/onnx.ts";
import { cli, SHARED_IMAGEWOOF, SHARED_MOBILENET, tempDir } from "../fixtures.ts";

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

Deno.test("export: the page in headless Chromium names the breed of a real photo", async () => {
  const out = join(dir, "export");
  // A test photo the model gets right (checked with the project's own prediction).
  const run = await loadFinalModel(runs[0]);
  const truth = new Map(testIds.map((t) => [t.id, t.label]));
  const photos = await cacheImages(testIds.map((t) => ({ id: t.id, path: pathOf.get(t.id)! })), {
    size: 224,
    dir: cache,
  });
  const ids = testIds.map((t) => t.id);
  const p = await predictPhotos(run.model, photos, ids);
  photos.close();
  const probs = blend(p.main, p.aux, run.alpha);
  const right = ids.findIndex((id, i) => {
    const row = Array.from(probs.subarray(i * 3, i * 3 + 3));
    const best = row.indexOf(Math.max(...row));
    return run.labels.toLabel(best) === truth.get(id) && row[best] > 0.6;
  });
  assert.ok(right >= 0, "the model classifies some test photo confidently and right");
  const id = ids[right];
  await Deno.copyFile(pathOf.get(id)!, join(out, "photo.jpg"));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const name = new URL(req.url).pathname.slice(1) || "index.html";
    const body = await Deno.readFile(join(out, name)).catch(() => undefined);
    if (!body) return new Response("not found", { status: 404 });
    const type = name.endsWith(".html")
      ? "text/html"
      : name.endsWith(".js")
      ? "text/javascript"
      : name.endsWith(".json")
      ? "application/json"
      : name.endsWith(".jpg")
      ? "image/jpeg"
      : "application/octet-stream";
    return new Response(body, { headers: { "content-type": type } });
  });
  /** The page's status line after it has loaded `photo` in headless Chromium. On a busy machine
   * the virtual-time budget can end before the photo is classified (the page still says it is
   * ready): then it is asked again, up to three times; any other status is final. */
  const statusFor = async (photo: string) => {
    for (let attempt = 1;; attempt++) {
      const status = await statusOnce(photo);
      if (attempt === 3 || !/^(Ready: drop a photo\.|Loading the model\.\.\.)$/.test(status)) {
        return status;
      }
    }
  };
  const statusOnce = async (
    photo: string,
    url = `http://127.0.0.1:${server.addr.port}/index.html?photo=${photo}`,
  ) => {
    const profile = await Deno.makeTempDir();
    const chromium = await new Deno.Command("chromium", {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--virtual-time-budget=30000",
        "--dump-dom",
        url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    await Deno.remove(profile, { recursive: true });
    const dom = decode(chromium.stdout);
    lastDom = dom;
    return /<p id="status">([^<]*)<\/p>/.exec(dom)?.[1] ?? dom.slice(0, 500);
  };
  let lastDom = "";
  try {
    const label = truth.get(id)!;
    const name = JSON.parse(await Deno.readTextFile(join(out, "labels.json")))
      .find((l: { label: string }) => l.label === label).name;
    assert.equal(await statusFor("photo.jpg"), `Most likely: ${name} (${label})`);
    // Double-clicked (a file:// page): one sentence on how to serve the folder.
    assert.match(
      await statusOnce("", `file://${join(out, "index.html")}`),
      /^This page was opened from a file, .*\(python3 -m http\.server --bind 127\.0\.0\.1 -d &lt;this folder&gt;\) and open http:\/\/127\.0\.0\.1:8000 instead\.$/,
    );
    // A file that is no photo: the page says so instead of nothing.
    await Deno.writeTextFile(join(out, "notes.jpg"), "not a photo");
    assert.equal(
      await statusFor("notes.jpg"),
      "Could not read notes.jpg as a photo: choose a JPEG, PNG or WebP.",
    );
    // A class folder named as markup (names come from the dataset): shown as text, never run.
    const hostile = `<img src=x onerror="document.body.dataset.pwned=1">'"&`;
    const labels = JSON.parse(await Deno.readTextFile(join(out, "labels.json")));
    for (const l of labels) l.name = hostile;
    await Deno.writeTextFile(join(out, "labels.json"), JSON.stringify(labels));
    const escaped = hostile.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
      ">",
      "&gt;",
    );
    assert.equal(await statusFor("photo.jpg"), `Most likely: ${escaped} (${label})`);
    assert.ok(!lastDom.includes("data-pwned"), "no handler of a label ran");
    assert.ok(lastDom.includes(`<td>${escaped}</td>`), "the name is in the table, as text");
  } finally {
    await server.shutdown();
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
