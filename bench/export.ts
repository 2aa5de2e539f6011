/**
 * The export's fp32 and int8 ONNX models side by side: file size, accuracy on the run's carved-off
 * test part, and milliseconds per photo (one photo a run, as the page and a webcam run them) in
 * onnxruntime-node (the CLI's engine) and in headless Chromium's onnxruntime-web (WebAssembly with
 * SIMD, on 1 thread and on 2 in a cross-origin isolated page), all in one process, one sitting.
 */
import { benchArgs, count } from "./common.ts";
import { initBackend } from "../lib/engine/tf.ts";
import { loadFinalModel } from "../lib/predict/predict.ts";
import { exportRun } from "../lib/predict/export.ts";
import { serveFolder } from "../lib/predict/serve.ts";
import { OnnxSession } from "../lib/engine/onnx.ts";
import { cacheImages } from "../lib/data/cache.ts";
import { readSplit } from "../lib/data/prepare.ts";
import { readTable } from "../lib/data/table.ts";
import { scaledPhotos } from "../lib/augment/batch.ts";
import { runFiles } from "../lib/layout.ts";
import { launchChromium } from "../test/fixtures/browser.ts";
import { encodeBase64 } from "../lib/plot/base64.ts";

const HELP = `Usage: deno task bench:export --run DIR [--photos N] [--out DIR]

Exports the run with an int8 model (--int8 always), then prints, for fp32 and int8: the file
size, the accuracy on the run's carved-off test part, and the median milliseconds per photo (one
photo a run) in onnxruntime-node and in Chromium's onnxruntime-web, on 1 and 2 threads.

  --run DIR     a trained run folder (deno task reproduce's or train's)
  --photos N    photos timed per engine and model (default 48, after 4 unmeasured)
  --out DIR     where the export goes (default: a temporary folder, removed)`;

const { values } = benchArgs(HELP, {
  run: { type: "string" },
  photos: { type: "string" },
  out: { type: "string" },
});
if (!values.run) {
  console.error("error: --run DIR is needed (see --help)");
  Deno.exit(2);
}
const photos = values.photos ? count("photos", values.photos) : 48;
const out = values.out ?? await Deno.makeTempDir({ prefix: "bench-export-" });
const [load] = Deno.loadavg();
console.log(`load average before: ${load.toFixed(2)}`);

const { engineThreads } = await initBackend({ quiet: true });
const run = await loadFinalModel(values.run);
const files = await exportRun(run, out, { int8: { mode: "always", threads: engineThreads } });
const report = files.onnx.int8!;

// The photos timed: the test part's first ones, as the model sees them.
const split = await readSplit(run.splitFolder);
const answers = await readTable(runFiles(run.splitFolder).testAnswers);
const pathOf = new Map([...split.train, ...split.val, ...split.test].map((p) => [p.id, p.path]));
const ids = (answers.length ? answers : split.val).slice(0, photos + 4).map((r) => r.id);
const size = run.config.preset.backbone.size;
const cache = await cacheImages(ids.map((id) => ({ id, path: pathOf.get(id)! })), { size });
const inputs = ids.map((id) => scaledPhotos(cache, [id], { planar: true }));
// The same photos for the page, as bytes (x = (v + 1) * 127.5 is exact for these values).
const bytes = inputs.map((x) =>
  encodeBase64(Uint8Array.from(x, (v) => Math.round((v + 1) * 127.5)))
);
cache.close();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median ms per photo in onnxruntime-node. */
async function nativeMs(model: string, threads: number): Promise<number> {
  const session = await OnnxSession.create(await Deno.readFile(model), threads);
  const times: number[] = [];
  try {
    for (const [i, x] of inputs.entries()) {
      const start = performance.now();
      await session.runNamed({ pixel_values: { data: x, dims: [1, 3, size, size] } });
      if (i >= 4) times.push(performance.now() - start);
    }
  } finally {
    await session.release();
  }
  return median(times);
}

/** Median ms per photo in Chromium's onnxruntime-web (a fresh page per thread count: the count is
 * fixed when the runtime starts). */
async function webMs(): Promise<Map<string, number>> {
  const server = serveFolder(out, { isolated: true });
  const browser = await launchChromium();
  const result = new Map<string, number>();
  try {
    for (const threads of [1, 2]) {
      const page = await browser.newPage();
      await page.goto(`${server.origin}/index.html`);
      for (const model of ["onnx/model.onnx", "onnx/model_quantized.onnx"]) {
        const ms = await page.evaluate(
          async (model: string, threads: number, photos: string[], size: number) => {
            const ort = await import("/ort/ort.wasm.bundle.min.mjs" as string);
            ort.env.wasm.numThreads = threads;
            const session = await ort.InferenceSession.create(model, {
              executionProviders: ["wasm"],
            });
            const times: number[] = [];
            for (const [i, photo] of photos.entries()) {
              const raw = atob(photo);
              const x = Float32Array.from(raw, (c) => c.charCodeAt(0) / 127.5 - 1);
              const tensor = new ort.Tensor("float32", x, [1, 3, size, size]);
              const start = performance.now();
              await session.run({ pixel_values: tensor });
              if (i >= 4) times.push(performance.now() - start);
            }
            await session.release();
            return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
          },
          model,
          threads,
          bytes,
          size,
        );
        result.set(`${model}:${threads}`, ms);
      }
      await page.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
  return result;
}

const web = await webMs();
const rows = [];
for (const [name, file] of [["fp32", files.onnx.model], ["int8", files.onnx.quantized]]) {
  const [n1, n2] = [await nativeMs(file, 1), await nativeMs(file, 2)];
  const key = file.slice(out.length + 1);
  rows.push([
    name,
    `${(report.sizes[name as "fp32" | "int8"] / 1e6).toFixed(2)} MB`,
    `${report[name as "fp32" | "int8"].toFixed(2)}%`,
    n1.toFixed(2),
    n2.toFixed(2),
    web.get(`${key}:1`)!.toFixed(2),
    web.get(`${key}:2`)!.toFixed(2),
  ]);
}
console.log(
  `\n${report.part} part: ${report.photos} photos; int8 and fp32 agree on ${
    report.agreement.toFixed(1)
  }%; int8 calibrated on ${report.calibrationPhotos} training photos; ${photos} photos timed\n`,
);
console.log(
  "| model | file | test-part accuracy | onnxruntime-node, 1 thread (ms) | 2 threads | " +
    "Chromium onnxruntime-web, 1 thread (ms) | 2 threads |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
console.log(`\nload average after: ${Deno.loadavg()[0].toFixed(2)}`);
if (!values.out) await Deno.remove(out, { recursive: true });
