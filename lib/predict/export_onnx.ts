/**
 * The trained run as an ONNX model, for onnxruntime (Node, web, Python) and for transformers.js,
 * whose image-classification pipeline loads a folder of this layout as it loads any model:
 *
 * - `onnx/model.onnx`: the whole network, every BatchNorm folded into its convolution; input
 *   `pixel_values` [batch, 3, size, size] (RGB, planar, scaled `x / 127.5 - 1`); output `logits`
 *   [batch, classes], the natural log of the blended probabilities at the run's alpha, so that a
 *   softmax (what the pipeline applies) gives those probabilities back. With `flip`, each photo's
 *   mirror image is predicted too and the two averaged, as `predict --flip` does;
 * - `onnx/model_quantized.onnx`: the int8 variant (export_int8.ts), where it keeps the accuracy;
 * - `config.json`: `id2label` (each class's display name) and `label2id`, and what the model is;
 *   its `dog_breeds` part has what the page shows (title, names) and the int8 model's scores;
 * - `preprocessor_config.json`: shortest side to `size`, center crop, `/ 255`, mean and standard
 *   deviation 0.5 (together `x / 127.5 - 1`), nearest-neighbour resampling. The project crops the
 *   center square first and then resizes: the same pixels up to a rounding at the edges.
 */
import { toOnnx } from "../model/onnx.ts";
import { exportInt8, type Int8Options, type Int8Report } from "./export_int8.ts";
import { onnxExportFiles } from "../layout.ts";
import { writeFileAtomic, writeTextAtomic } from "../files.ts";
import type { FinalModel } from "./predict.ts";

export type OnnxExportFiles = ReturnType<typeof onnxExportFiles>;

/** transformers.js' model class for each backbone (the pipeline picks it by `model_type`). */
const MODEL_TYPES: Record<string, { type: string; architecture: string }> = {
  mobilenet_v2: { type: "mobilenet_v2", architecture: "MobileNetV2ForImageClassification" },
};

/** The ONNX model's bytes: image in, the log of the blended probabilities out. */
export async function onnxClassifier(run: FinalModel, { flip = false } = {}): Promise<Uint8Array> {
  return await toOnnx([run.model.backbone.model, run.model.head], {
    outputs: [1, 2],
    softmax: true,
    planarInput: true,
    flip,
    blend: run.alpha,
    log: true,
    names: { input: "pixel_values", outputs: ["logits"] },
  });
}

export interface OnnxExportOptions {
  flip?: boolean;
  /** The int8 variant: whether to write it, and how it is calibrated and judged. */
  int8?: Int8Options;
  /** The page's title (what the model tells apart). */
  title?: string;
}

/** Writes `onnx/model.onnx` (and its int8 variant), `config.json` and `preprocessor_config.json`
 * into `out`. */
export async function exportOnnx(
  run: FinalModel,
  out: string,
  { flip = false, int8: int8Options, title = "Which breed?" }: OnnxExportOptions = {},
): Promise<OnnxExportFiles & { int8?: Int8Report }> {
  const files = onnxExportFiles(out);
  await Deno.mkdir(files.folder, { recursive: true });
  const fp32 = await onnxClassifier(run, { flip });
  await writeFileAtomic(files.model, fp32);
  const int8 = await exportInt8(run, fp32, files.quantized, int8Options);
  const backbone = run.config.preset.backbone;
  const size = backbone.size;
  const labels = run.labels.labels;
  const names = run.labels.names;
  // transformers.js shows id2label's names: two breeds of one display name keep their labels.
  const unique = names.map((name, i) =>
    names.indexOf(name) === names.lastIndexOf(name) ? name : `${name} (${labels[i]})`
  );
  const known = MODEL_TYPES[backbone.name];
  const config = {
    ...(known ? { model_type: known.type, architectures: [known.architecture] } : {}),
    num_labels: labels.length,
    id2label: Object.fromEntries(unique.map((name, i) => [String(i), name])),
    label2id: Object.fromEntries(unique.map((name, i) => [name, i])),
    dog_breeds: {
      title,
      backbone: backbone.name,
      labels,
      names,
      alpha: run.alpha,
      flip,
      outputs: "logits: log of alpha * softmax(main) + (1 - alpha) * softmax(aux)",
      source: run.description,
      ...(int8 ? { int8 } : {}),
    },
  };
  await writeTextAtomic(files.config, JSON.stringify(config, null, 1));
  const preprocessor = {
    do_resize: true,
    size: { shortest_edge: size },
    resample: 0,
    do_center_crop: true,
    crop_size: { height: size, width: size },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
    do_convert_rgb: true,
  };
  await writeTextAtomic(files.preprocessor, JSON.stringify(preprocessor, null, 1));
  return { ...files, int8 };
}
