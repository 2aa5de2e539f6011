/** `deno task export --run DIR --out DIR`: the trained model as one TF.js model and a web page,
 * and as one ONNX model in transformers.js' layout. */
import { initBackend } from "../engine/tf.ts";
import { loadFinalModel } from "../predict/predict.ts";
import { exportRun } from "../predict/export.ts";
import { UsageError } from "../errors.ts";
import { parseCliArgs } from "./run_args.ts";
import { runMain, say } from "./main.ts";

const HELP = `Usage: deno task export --run DIR --out DIR [--flip]

  --run DIR   a run folder: deno task train's (its best checkpoint) or deno task reproduce's (the
              model of its final submissions)
  --out DIR   the export: model.json + weights.bin (TF.js layers model, BatchNorm folded, one
              output: the blended probabilities), labels.json, preprocess.json, index.html (a page
              that classifies a dropped photo; serve the folder on this machine only, e.g.
              python3 -m http.server --bind 127.0.0.1 -d DIR); and onnx/model.onnx (input
              pixel_values [batch, 3, size, size] scaled x / 127.5 - 1, output logits: the log of
              the blended probabilities) with config.json and preprocessor_config.json, which
              transformers.js' image-classification pipeline and onnxruntime read
  --flip      the ONNX model also predicts each photo's mirror image and averages the two (as
              predict --flip)`;

await runMain(async () => {
  const values = parseCliArgs(HELP, {
    run: { type: "string" },
    out: { type: "string" },
    flip: { type: "boolean" },
  });
  if (!values.run || !values.out) throw new UsageError("--run and --out are both needed");
  await initBackend({ quiet: true }); // its results are the output
  const run = await loadFinalModel(values.run);
  const files = await exportRun(run, values.out, { flip: values.flip });
  say(`exported ${run.description}, to ${values.out}`);
  say(`model: ${files.model}; page: ${files.page}; ONNX: ${files.onnx.model}`);
});
