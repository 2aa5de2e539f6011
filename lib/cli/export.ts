/** `deno task export --run DIR --out DIR`: the trained model as ONNX (fp32 and int8) and TF.js
 * models, and a page that runs them in the browser. */
import { initBackend } from "../engine/tf.ts";
import { loadFinalModel } from "../predict/predict.ts";
import { exportRun } from "../predict/export.ts";
import type { Int8Mode } from "../predict/export_int8.ts";
import { readNames } from "../data/names.ts";
import { UsageError } from "../errors.ts";
import { parseCliArgs } from "./run_args.ts";
import { runMain, say } from "./main.ts";

const HELP = `Usage: deno task export --run DIR --out DIR [options]

  --run DIR         a run folder: deno task train's (its best checkpoint) or deno task
                    reproduce's (the model of its final submissions)
  --out DIR         the export:
                    - onnx/model.onnx: input pixel_values [batch, 3, size, size] scaled
                      x / 127.5 - 1, output logits (the log of the blended probabilities), with
                      config.json and preprocessor_config.json, as transformers.js'
                      image-classification pipeline and onnxruntime read them;
                    - onnx/model_quantized.onnx: its int8 variant (see --int8);
                    - model.json + weights.bin: a TF.js layers model (BatchNorm folded, one
                      output: the blended probabilities), labels.json, preprocess.json;
                    - index.html and ort/: a page that classifies a photo or the camera's frames
                      with onnxruntime-web; serve the folder on this machine only, e.g.
                      python3 -m http.server --bind 127.0.0.1 -d DIR (one thread; a server
                      sending COOP/COEP headers gives it threads)
  --flip            the ONNX models also predict each photo's mirror image and average the two,
                    as the cpu preset's submissions and predict do (left out: one view per
                    photo, half the work in the browser; the TF.js model is always one view)
  --int8 MODE       auto (default): calibrate an int8 model on 256 of the run's training
                    photos, score both on its carved-off test part (else its validation part)
                    and write it only if it loses at most 0.5 points; always; never
  --title TEXT      the page's title (default: "Which breed? (<dataset>, <N> breeds)")
  --names FILE      display names for the labels: 'label<TAB>name' lines (a competition's
                    numeric ids); default: the names the run keeps
  --cache-dir DIR   decoded-photo cache for the int8 calibration (default data/cache)`;

const MODES: Int8Mode[] = ["auto", "always", "never"];

await runMain(async () => {
  const values = parseCliArgs(HELP, {
    run: { type: "string" },
    out: { type: "string" },
    flip: { type: "boolean" },
    int8: { type: "string" },
    title: { type: "string" },
    names: { type: "string" },
    "cache-dir": { type: "string" },
  });
  if (!values.run || !values.out) throw new UsageError("--run and --out are both needed");
  const mode = (values.int8 ?? "auto") as Int8Mode;
  if (!MODES.includes(mode)) {
    throw new UsageError(`--int8 '${values.int8}': expected ${MODES.join(", ")}`);
  }
  const names = values.names ? await readNames(values.names) : undefined;
  const { engineThreads } = await initBackend({ quiet: true }); // its results are the output
  const loaded = await loadFinalModel(values.run);
  const run = names ? { ...loaded, labels: loaded.labels.withNames(names) } : loaded;
  const files = await exportRun(run, values.out, {
    flip: values.flip,
    title: values.title,
    int8: { mode, cacheDir: values["cache-dir"], threads: engineThreads },
  });
  say(`exported ${run.description}, to ${values.out}`);
  say(`ONNX: ${files.onnx.model}; page: ${files.page}; TF.js: ${files.model}`);
  const q = files.onnx.int8;
  if (q) {
    const scores = `${q.int8.toFixed(2)}% against fp32 ${q.fp32.toFixed(2)}% on the ${q.part} ` +
      `part's ${q.photos} photos (the same top breed for ${q.agreement.toFixed(1)}%), ` +
      `${(q.sizes.int8 / 1e6).toFixed(2)} MB against ${(q.sizes.fp32 / 1e6).toFixed(2)} MB`;
    say(
      q.written
        ? `int8: ${files.onnx.quantized}: ${scores}`
        : `int8: not written, it loses more than 0.5 points: ${scores} (--int8 always writes it)`,
    );
  }
});
