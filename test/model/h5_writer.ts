/** Writes a model's weights as Keras does, so the loader can be tested on files we make. */
import h5wasm from "h5wasm/node";
import { tf } from "@/engine/tf.ts";

/** `layout: "notop"` as keras.applications files (root attributes); `"model"` as a whole-model
 * save with the backbone nested under `model_weights/<nested>`. `rename` changes layer names
 * (e.g. to tf.keras' 0-based auto names) to test order matching. */
export async function writeKerasH5(
  model: tf.LayersModel,
  path: string,
  { layout = "notop", nested = "xception", rename = (n: string) => n } = {},
): Promise<void> {
  await h5wasm.ready;
  const file = new h5wasm.File(path, "w");
  try {
    const layers = model.layers.filter((l) => l.name !== "input_1");
    let root = file as unknown as H5Group;
    if (layout === "model") {
      root = file.create_group("model_weights") as unknown as H5Group;
      root.create_attribute("layer_names", [nested]);
      const group = root.create_group(nested);
      const names: string[] = [];
      for (const layer of layers) {
        for (const w of layer.weights) {
          const name = `${nested}/${rename(layer.name)}/${w.originalName.split("/").pop()}:0`;
          names.push(name);
          ensureGroups(group, name);
          group.create_dataset({
            name,
            data: w.read().dataSync() as Float32Array,
            shape: w.shape as number[],
            dtype: "<f",
          });
        }
      }
      group.create_attribute("weight_names", names);
      return;
    }
    root.create_attribute("layer_names", layers.map((l) => rename(l.name)));
    for (const layer of layers) {
      const group = root.create_group(rename(layer.name));
      const names = layer.weights.map((w) =>
        `${rename(layer.name)}/${w.originalName.split("/").pop()}:0`
      );
      // Keras writes an empty list for weightless layers; h5wasm cannot make an empty string
      // attribute, and the reader treats a missing one the same way.
      if (names.length) group.create_attribute("weight_names", names);
      layer.weights.forEach((w, i) => {
        ensureGroups(group, names[i]);
        group.create_dataset({
          name: names[i],
          data: w.read().dataSync() as Float32Array,
          shape: w.shape as number[],
          dtype: "<f",
        });
      });
    }
  } finally {
    file.close();
  }
}

/** Keras weight names are paths (`layer/kernel:0`): their folders must exist as groups. */
function ensureGroups(group: H5Group, path: string): void {
  let at = group;
  for (const part of path.split("/").slice(0, -1)) {
    at = at.keys().includes(part) ? at.get(part) as H5Group : at.create_group(part);
  }
}

interface H5Group {
  get(path: string): unknown;
  keys(): string[];
  create_group(name: string): H5Group;
  create_attribute(name: string, data: unknown, shape?: number[]): void;
  create_dataset(
    options: { name: string; data: Float32Array; shape: number[]; dtype: string },
  ): unknown;
}
