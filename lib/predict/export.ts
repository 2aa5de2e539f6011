/**
 * A trained run as one TF.js layers model for anyone's browser or Node app (what Teachable
 * Machine and fastai's `export` give): the backbone with every BatchNorm folded into its
 * convolution (fewer layers, fewer passes), the seed's head, and one output, the blended
 * probabilities `alpha * softmax(main) + (1 - alpha) * softmax(aux)` with the run's alpha. Beside
 * it: `labels.json` (index -> the dataset's label and breed name), `preprocess.json` (what an
 * input must be) and a static page, `index.html`, that classifies a dropped photo with no build
 * step (it loads TF.js from the `tf.min.js` copied beside it, so it works offline). The same
 * network as ONNX goes beside them (export_onnx.ts).
 */
import { createRequire } from "node:module";
import { tf } from "../engine/tf.ts";
import { displayName } from "../data/breeds.ts";
import { foldChains } from "../model/fold.ts";
import { DataError } from "../errors.ts";
import type { FinalModel } from "./predict.ts";
import { exportOnnx, type OnnxExportFiles } from "./export_onnx.ts";
import { EXPORT_WEIGHTS, exportFiles } from "../layout.ts";

/** The export folder's files (lib/layout.ts names them). */
export type ExportFiles = ReturnType<typeof exportFiles>;

type LayerJson = {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
};
type ModelJson = {
  class_name: string;
  config: { layers: LayerJson[]; output_layers: unknown[]; input_layers: unknown[] };
};

/** The backbone as layers again, each BatchNorm folded into the convolution before it. */
export async function foldedBackbone(model: tf.LayersModel): Promise<tf.LayersModel> {
  const chains = foldChains(model);
  const byBn = new Map(chains.map((c) => [c.bn!.name, c.conv.name]));
  const byConv = new Set(chains.map((c) => c.conv.name));
  const json = model.toJSON(null, false) as unknown as ModelJson;
  // Rewire: whatever read a BatchNorm now reads its convolution, which gains the bias.
  const rename = (value: unknown): unknown => {
    if (Array.isArray(value)) {
      if (typeof value[0] === "string" && byBn.has(value[0])) {
        return [byBn.get(value[0]), ...value.slice(1)];
      }
      return value.map(rename);
    }
    return value;
  };
  json.config.layers = json.config.layers.filter((l) => !byBn.has(l.name)).map((l) => ({
    ...l,
    config: byConv.has(l.name) ? { ...l.config, use_bias: true } : l.config,
    inbound_nodes: rename(l.inbound_nodes) as unknown[],
  }));
  json.config.output_layers = rename(json.config.output_layers) as unknown[];
  const rebuilt = await tf.models.modelFromJSON({
    modelTopology: json as unknown as tf.io.ModelJSON["modelTopology"],
  });
  // Weights: folded ones for the convolutions, the trained ones for every other layer.
  const foldedWeights = new Map(chains.map((c) => [c.conv.name, c.weights()]));
  for (const layer of rebuilt.layers) {
    const weights = foldedWeights.get(layer.name) ?? model.getLayer(layer.name).getWeights();
    if (weights.length) layer.setWeights(weights);
  }
  tf.dispose([...foldedWeights.values()].flat());
  return rebuilt;
}

/**
 * Backbone, head and blend as one model with one output. The folded backbone and the blend layer
 * are its own; the heads are the run's, shared: `dispose()` frees what is its own and leaves the
 * run's model whole (it still predicts, and exports again).
 */
export async function exportableModel(
  run: FinalModel,
): Promise<{ model: tf.LayersModel; dispose(): void }> {
  const backbone = await foldedBackbone(run.model.backbone.model);
  const size = run.config.preset.backbone.size;
  const k = run.model.classes;
  const input = tf.input({ shape: [size, size, 3], name: "image" });
  const pooled = backbone.apply(input) as tf.SymbolicTensor;
  const [, mainLogits, auxLogits] = run.model.head.apply(pooled) as tf.SymbolicTensor[];
  const main = tf.layers.activation({ activation: "softmax", name: "main_probabilities" })
    .apply(mainLogits) as tf.SymbolicTensor;
  const aux = tf.layers.activation({ activation: "softmax", name: "aux_probabilities" })
    .apply(auxLogits) as tf.SymbolicTensor;
  const both = tf.layers.concatenate({ name: "both_heads" }).apply([main, aux]);
  const mix = tf.layers.dense({ units: k, useBias: false, trainable: false, name: "blend" });
  const blended = mix.apply(both) as tf.SymbolicTensor;
  // blend kernel [2k, k]: alpha on the main head's identity, 1 - alpha on the aux head's.
  const kernel = tf.tidy(() =>
    tf.concat([tf.eye(k).mul(run.alpha), tf.eye(k).mul(1 - run.alpha)], 0)
  );
  mix.setWeights([kernel]);
  kernel.dispose();
  const model = tf.model({ inputs: input, outputs: blended, name: "dog_breeds" });
  return {
    model,
    dispose() {
      // Weight by weight: the models hold each other (tfjs' own dispose counts the references
      // and frees nothing while the export model, which shares the run's heads, lives).
      for (const weight of [...backbone.weights, ...mix.weights]) weight.dispose();
    },
  };
}

/** Writes the export folder: model.json + weights.bin, labels.json, preprocess.json, the page,
 * and the ONNX model with transformers.js' two JSON files (export_onnx.ts; `flip` bakes flip
 * test-time augmentation into it). */
export async function exportRun(
  run: FinalModel,
  out: string,
  { flip = false } = {},
): Promise<ExportFiles & { onnx: OnnxExportFiles }> {
  const info = await Deno.stat(out).catch(() => undefined);
  if (info && !info.isDirectory) {
    throw new DataError(out, "not a folder: --out names the folder the export is written to");
  }
  await Deno.mkdir(out, { recursive: true });
  const files = exportFiles(out);
  const { model, dispose } = await exportableModel(run);
  try {
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      await Deno.writeFile(files.weights, new Uint8Array(artifacts.weightData as ArrayBuffer));
      await Deno.writeTextFile(
        files.model,
        JSON.stringify({
          format: "layers-model",
          generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
          convertedBy: "dog-breeds export (BatchNorm folded)",
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: [EXPORT_WEIGHTS], weights: artifacts.weightSpecs }],
        }),
      );
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }));
  } finally {
    dispose();
  }
  const labels = run.labels.labels.map((label, index) => ({
    index,
    label,
    name: displayName(label),
  }));
  await Deno.writeTextFile(files.labels, JSON.stringify(labels, null, 1));
  const preprocess = {
    size: run.config.preset.backbone.size,
    channels: "RGB",
    layout: "NHWC [batch, size, size, 3]",
    crop: "center square (the shorter side), then resize to size x size",
    resize: "nearest neighbour",
    scale: "x / 127.5 - 1 (pixels 0..255 to -1..1)",
    output: `blended probabilities: ${run.alpha} * main + ${
      (1 - run.alpha).toFixed(2)
    } * aux, one per label in labels.json order`,
    alpha: run.alpha,
    source: run.description,
  };
  await Deno.writeTextFile(files.preprocess, JSON.stringify(preprocess, null, 1));
  const require = createRequire(import.meta.url);
  const tfjsBundle = require.resolve("@tensorflow/tfjs/dist/tf.min.js");
  await Deno.copyFile(tfjsBundle, files.tfjs);
  await Deno.writeTextFile(files.page, page(exportFiles(".")));
  return { ...files, onnx: await exportOnnx(run, out, { flip }) };
}

/** The static page: drop a photo (or open `index.html?photo=URL`), see the top breeds. */
const page = (names: ExportFiles) =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Dog breeds</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  #drop { border: 2px dashed #888; border-radius: 8px; padding: 2rem; text-align: center; }
  #drop.over { background: #eef; }
  img { max-width: 100%; max-height: 18rem; display: block; margin: 1rem auto; }
  .bar { background: #4a7; height: 1rem; border-radius: 3px; }
  table { width: 100%; border-collapse: collapse; } td { padding: .2rem .4rem; }
</style>
</head>
<body>
<h1>Which dog breed?</h1>
<div id="drop">Drop a photo here, or <input type="file" id="file" accept="image/*"></div>
<p id="status">Loading the model...</p>
<img id="photo" alt="">
<table id="result"></table>
<script src="${names.tfjs}"></script>
<script>
const status = (text) => (document.getElementById("status").textContent = text);
// Opened from disk (double-clicked), the page may not fetch its own model: say what to do.
const SERVE = "This page was opened from a file, and browsers do not let such a page load its " +
  "model: serve this folder on this machine (python3 -m http.server --bind 127.0.0.1 -d " +
  "<this folder>) and open http://127.0.0.1:8000 instead.";
const ready = location.protocol === "file:" ? Promise.reject(new Error(SERVE)) : (async () => {
  const [labels, pre, model] = await Promise.all([
    fetch("${names.labels}").then((r) => r.json()),
    fetch("${names.preprocess}").then((r) => r.json()),
    tf.loadLayersModel("${names.model}"),
  ]);
  status("Ready: drop a photo.");
  return { labels, pre, model };
})();
ready.catch((e) => status(e.message === SERVE ? SERVE : "Could not load the model: " + e.message));

async function classify(url, name) {
  const { labels, pre, model } = await ready;
  const img = document.getElementById("photo");
  img.src = url;
  try {
    await img.decode();
  } catch {
    document.getElementById("result").replaceChildren();
    img.removeAttribute("src");
    status("Could not read " + (name || "this file") + " as a photo: choose a JPEG, PNG or WebP.");
    return;
  }
  // As the project preprocesses: center square, nearest-neighbour resize, x / 127.5 - 1.
  const side = Math.min(img.naturalWidth, img.naturalHeight);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = pre.size;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(img, Math.floor((img.naturalWidth - side) / 2), Math.floor((img.naturalHeight - side) / 2),
    side, side, 0, 0, pre.size, pre.size);
  const probs = tf.tidy(() => {
    const x = tf.browser.fromPixels(canvas).toFloat().div(127.5).sub(1).expandDims(0);
    return model.predict(x).dataSync();
  });
  const top = Array.from(probs, (p, i) => ({ p, i })).sort((a, b) => b.p - a.p).slice(0, 3);
  // Names are the dataset's folder names: text nodes, never markup.
  document.getElementById("result").replaceChildren(...top.map(({ p, i }) => {
    const row = document.createElement("tr");
    const [name, share, barCell] = [0, 1, 2].map(() => row.insertCell());
    name.textContent = labels[i].name;
    share.textContent = (100 * p).toFixed(1) + "%";
    barCell.style.width = "40%";
    const bar = barCell.appendChild(document.createElement("div"));
    bar.className = "bar";
    bar.style.width = (100 * p).toFixed(1) + "%";
    return row;
  }));
  status("Most likely: " + labels[top[0].i].name + " (" + labels[top[0].i].label + ")");
}

const drop = document.getElementById("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer.files[0];
  if (file) classify(URL.createObjectURL(file), file.name).catch(failed);
});
document.getElementById("file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) classify(URL.createObjectURL(file), file.name).catch(failed);
});
function failed(e) { if (e.message !== SERVE) status("Could not classify: " + e.message); }
const photo = new URLSearchParams(location.search).get("photo");
if (photo) classify(photo, photo).catch(failed);
</script>
</body>
</html>
`;
