/**
 * The trained run as an ONNX model, for onnxruntime (Node, web, Python) and for transformers.js,
 * whose image-classification pipeline loads a folder of this layout as it loads any model:
 *
 * - `onnx/model.onnx`: the whole network, every BatchNorm folded into its convolution; input
 *   `pixel_values` [batch, 3, size, size] (RGB, planar, scaled `x / 127.5 - 1`); output `logits`
 *   [batch, classes], the natural log of the blended probabilities at the run's alpha, so that a
 *   softmax (what the pipeline applies) gives those probabilities back. With `flip`, each photo's
 *   mirror image is predicted too and the two averaged, as `predict --flip` does;
 * - `config.json`: `id2label` (each class's display name) and `label2id`, and what the model is;
 * - `preprocessor_config.json`: shortest side to `size`, center crop, `/ 255`, mean and standard
 *   deviation 0.5 (together `x / 127.5 - 1`), nearest-neighbour resampling. The project crops the
 *   center square first and then resizes: the same pixels up to a rounding at the edges.
 */
import { displayName } from "../data/breeds.ts";
import { toOnnx } from "../model/onnx.ts";
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

/** Writes `onnx/model.onnx`, `config.json` and `preprocessor_config.json` into `out`. */
export async function exportOnnx(
  run: FinalModel,
  out: string,
  { flip = false } = {},
): Promise<OnnxExportFiles> {
  const files = onnxExportFiles(out);
  await Deno.mkdir(files.folder, { recursive: true });
  await writeFileAtomic(files.model, await onnxClassifier(run, { flip }));
  const backbone = run.config.preset.backbone;
  const size = backbone.size;
  const labels = run.labels.labels;
  const names = labels.map((label) => displayName(label));
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
      backbone: backbone.name,
      labels,
      alpha: run.alpha,
      flip,
      outputs: "logits: log of alpha * softmax(main) + (1 - alpha) * softmax(aux)",
      source: run.description,
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
  return files;
}
