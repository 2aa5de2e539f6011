/**
 * A trained run as one TF.js layers model for anyone's browser or Node app (what Teachable
 * Machine and fastai's `export` give): the backbone with every BatchNorm folded into its
 * convolution (fewer layers, fewer passes), the seed's head, and one output, the blended
 * probabilities `alpha * softmax(main) + (1 - alpha) * softmax(aux)` with the run's alpha. Beside
 * it: `labels.json` (index -> the dataset's label and breed name) and `preprocess.json` (what an
 * input must be). The same network as ONNX goes beside them (export_onnx.ts), fp32 and int8, and a
 * static page, `index.html`, runs those in onnxruntime-web with no build step: a dropped photo, or
 * the camera's frames live. Every file it loads is in the folder (it works offline).
 */
import { createRequire } from "node:module";
import { tf } from "../engine/tf.ts";
import { dirname } from "node:path";
import { datasetNameParts } from "../data/dataset.ts";
import { foldChains } from "../model/fold.ts";
import { DataError } from "../errors.ts";
import type { FinalModel } from "./predict.ts";
import { exportOnnx, type OnnxExportFiles } from "./export_onnx.ts";
import type { Int8Options, Int8Report } from "./export_int8.ts";
import { exportPage } from "./export_page.ts";
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

export interface ExportOptions {
  /** Flip test-time augmentation baked into the ONNX models. */
  flip?: boolean;
  /** The int8 ONNX variant (written where it keeps the accuracy, by default). */
  int8?: Int8Options;
  /** The page's title (default: what the dataset is, from its folder). */
  title?: string;
}

/** "Which breed? (imagewoof, 10 breeds)": the page's title from the run's dataset folder. */
export function defaultTitle(run: FinalModel): string {
  return `Which breed? (${datasetNameParts(run.config.data)[0]}, ${run.labels.size} breeds)`;
}

/** Writes the export folder: model.json + weights.bin, labels.json, preprocess.json, the ONNX
 * models with transformers.js' two JSON files (export_onnx.ts), and the page with the
 * onnxruntime-web files it runs them with. */
export async function exportRun(
  run: FinalModel,
  out: string,
  { flip = false, int8, title = defaultTitle(run) }: ExportOptions = {},
): Promise<ExportFiles & { onnx: OnnxExportFiles & { int8?: Int8Report } }> {
  const info = await Deno.stat(out).catch(() => undefined);
  if (info && !info.isDirectory) {
    throw new DataError(out, "not a folder: --out names the folder the export is written to");
  }
  await Deno.mkdir(out, { recursive: true });
  const files = exportFiles(out);
  await writeLayersModel(run, files);
  const labels = run.labels.labels.map((label, index) => ({
    index,
    label,
    name: run.labels.names[index],
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
  const onnx = await exportOnnx(run, out, { flip, int8, title });
  await copyOnnxRuntimeWeb(files);
  await Deno.writeTextFile(files.page, exportPage());
  // An export of an older version loaded TF.js from here; the page no longer does.
  await Deno.remove(`${out}/tf.min.js`).catch(() => {});
  return { ...files, onnx };
}

/** model.json + weights.bin: the TF.js layers model (for TF.js apps; the page runs ONNX). */
async function writeLayersModel(run: FinalModel, files: ExportFiles): Promise<void> {
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
}

/** onnxruntime-web's ES module bundle (WebAssembly backend) and its SIMD + threads binary. */
async function copyOnnxRuntimeWeb(files: ExportFiles): Promise<void> {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm"));
  await Deno.mkdir(files.ort, { recursive: true });
  await Deno.copyFile(`${dist}/ort.wasm.bundle.min.mjs`, files.ortBundle);
  await Deno.copyFile(`${dist}/ort-wasm-simd-threaded.wasm`, files.ortWasm);
}
