/**
 * Pretrained weights from the two formats users have, read directly in TypeScript (no Python
 * conversion step): TF.js layers models (`model.json` + shards, e.g. Teachable Machine exports)
 * and Keras HDF5 files (the official `*_notop.h5` application weights, and whole-model saves with
 * a `model_weights` group and nested models). Both become a map `"layer/param" -> tensor` that is
 * assigned to a model by layer name, with clear errors for missing layers and shape mismatches.
 */
import h5wasm from "h5wasm/node";
import { basename, dirname, join, resolve } from "node:path";
import { DataError } from "../errors.ts";
import { exists, sha256Hex } from "../files.ts";
import { tf } from "../engine/tf.ts";

export interface WeightFile {
  /** `"layer/param"` (e.g. `"Conv1/kernel"`) -> values. */
  tensors: Map<string, tf.Tensor>;
  /** Layers in file order, each with its weight keys (for order-based matching). */
  layers: { name: string; keys: string[] }[];
  source: string;
  /** SHA-256 of the bytes read (per file, joined: model.json then its shards), taken as they were
   * read so that a run's identity costs no second read. */
  sha256: string;
}

/** The weight file a path names: the file itself, or a folder's model.json / .h5. */
export async function weightFileOf(path: string): Promise<string> {
  const info = await Deno.stat(path).catch(() => undefined);
  if (!info) throw new DataError(path, `weights not found`);
  if (!info.isDirectory) return path;
  for (const name of ["model.json", "keras_model.h5", "model.h5"]) {
    if (await exists(join(path, name))) return join(path, name);
  }
  throw new DataError(path, `no model.json or .h5 weights in this folder`);
}

/** Reads a weight file: a TF.js `model.json` (or its folder) or a Keras `.h5`. */
export async function readWeightFile(weights: string): Promise<WeightFile> {
  const path = await weightFileOf(weights);
  if (/\.(h5|hdf5|keras)$/i.test(path)) return readKerasH5(path);
  if (path.endsWith(".json")) return readTfjsModel(path);
  throw new DataError(path, `unknown weights format (expected model.json or .h5)`);
}

interface Manifest {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: string }[];
}

/** TF.js layers format: shards concatenated per manifest group, decoded by tfjs itself. */
export async function readTfjsModel(modelJson: string): Promise<WeightFile> {
  let manifest: Manifest[];
  const hashes: string[] = [];
  try {
    const text = await Deno.readFile(modelJson);
    hashes.push(sha256Hex(text));
    manifest = JSON.parse(new TextDecoder().decode(text)).weightsManifest;
  } catch (error) {
    throw new DataError(modelJson, `not a TF.js model.json (${(error as Error).message})`);
  }
  if (!Array.isArray(manifest)) throw new DataError(modelJson, `no weightsManifest`);
  const tensors = new Map<string, tf.Tensor>();
  const layers = new Map<string, string[]>();
  for (const group of manifest) {
    const shardPaths = group.paths.map((p) => join(dirname(modelJson), p));
    const shards = await Promise.all(shardPaths.map((p) =>
      Deno.readFile(p).catch((error) => {
        throw new DataError(p, `cannot read weights shard (${(error as Error).message})`);
      })
    ));
    hashes.push(...shards.map((shard) => sha256Hex(shard)));
    const bytes = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
    const expected = group.weights.reduce(
      (n, w) => n + w.shape.reduce((a, b) => a * b, 1) * (BYTES[w.dtype] ?? 4),
      0,
    );
    if (bytes.length < expected) {
      throw new DataError(
        shardPaths.at(-1) ?? modelJson,
        `truncated: ${bytes.length} bytes, ${basename(modelJson)} lists ${expected}`,
      );
    }
    let at = 0;
    for (const shard of shards) {
      bytes.set(shard, at);
      at += shard.length;
    }
    const decoded = tf.io.decodeWeights(
      bytes.buffer,
      group.weights as tf.io.WeightsManifestEntry[],
    );
    for (const spec of group.weights) {
      const key = weightKey(spec.name);
      tensors.set(key, decoded[spec.name]);
      const layer = key.slice(0, key.lastIndexOf("/"));
      layers.set(layer, [...(layers.get(layer) ?? []), key]);
    }
  }
  return {
    tensors,
    layers: [...layers].map(([name, keys]) => ({ name, keys })),
    source: modelJson,
    sha256: sha256Hex(hashes.join("\n")),
  };
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, float16: 2 };

/** The end-of-file address an HDF5 superblock records, against the file's real size. */
function hdf5Truncation(bytes: Uint8Array): { size: number; end: number } | undefined {
  const head = bytes.subarray(0, 64);
  const version = head[8];
  // Superblock v0/v1: offsets' size at byte 13, addresses from byte 24 (v1: 28); v2/v3: size at
  // byte 9, addresses from byte 12. The addresses: base, (free-space or extension), end of file.
  const width = version <= 1 ? head[13] : head[9];
  const start = version === 0 ? 24 : version === 1 ? 28 : 12;
  if (!(width === 4 || width === 8) || version > 3 || head.length < start + 3 * width) {
    return undefined;
  }
  const address = (at: number) => {
    let value = 0;
    for (let i = width - 1; i >= 0; i--) value = value * 256 + head[at + i];
    return value;
  };
  const end = address(start) + address(start + 2 * width);
  return bytes.length < end ? { size: bytes.length, end } : undefined;
}

/** Keras HDF5: walks `layer_names` / `weight_names` attributes, into nested models too. */
export async function readKerasH5(path: string): Promise<WeightFile> {
  await h5wasm.ready;
  // Read once here for the hash and the checks; HDF5 then reads what it needs itself (h5wasm's
  // Node build opens files by path, with no in-memory file to hand it these bytes).
  const bytes = await Deno.readFile(path);
  // h5wasm opens anything without complaint and fails later with an opaque message.
  const head = bytes.subarray(0, 8);
  const signature = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]; // "\x89HDF\r\n\x1a\n"
  if (!signature.every((byte, i) => head[i] === byte)) {
    if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
      throw new DataError(
        path,
        "a zip archive (Keras 3's .keras format), which this project does not read: give Keras " +
          '2 HDF5 weights (.h5, as keras.applications downloads them; or "imagenet"), or a ' +
          "TF.js model.json",
      );
    }
    throw new DataError(path, `not a readable HDF5 file (no HDF5 signature)`);
  }
  // A cut-off file makes HDF5 print pages of diagnostics: compare sizes before opening it.
  const truncated = hdf5Truncation(bytes);
  if (truncated) {
    throw new DataError(
      path,
      `truncated: ${truncated.size} bytes, its HDF5 superblock says ${truncated.end}`,
    );
  }
  let file: InstanceType<typeof h5wasm.File>;
  try {
    file = new h5wasm.File(resolve(path), "r");
  } catch (error) {
    throw new DataError(path, `not a readable HDF5 file (${(error as Error).message})`);
  }
  try {
    // Asking h5wasm for a missing path prints HDF5 diagnostics: look before getting.
    const root =
      (file.keys().includes("model_weights") ? file.get("model_weights") : file) as H5Group;
    if (!root.attrs?.["layer_names"]) {
      throw new DataError(path, `no 'layer_names' attribute: not Keras weights`);
    }
    const tensors = new Map<string, tf.Tensor>();
    const layers: { name: string; keys: string[] }[] = [];
    const walk = (group: H5Group) => {
      for (const layerName of strings(group.attrs["layer_names"].value)) {
        const layer = group.get(layerName) as H5Group;
        const names = strings(layer.attrs["weight_names"]?.value ?? []);
        const keys: string[] = [];
        for (const name of names) {
          const dataset = layer.get(name) as H5Dataset | null;
          if (!dataset) {
            throw new DataError(path, `layer '${layerName}' lists missing weight '${name}'`);
          }
          const key = weightKey(name);
          tensors.set(key, tf.tensor(dataset.value as Float32Array, dataset.shape, "float32"));
          keys.push(key);
        }
        // Whole-model saves list a nested model as one "layer" whose weight names carry the
        // inner layer names; group them back by inner layer.
        const inner = new Map<string, string[]>();
        for (const key of keys) {
          const owner = key.slice(0, key.lastIndexOf("/"));
          inner.set(owner, [...(inner.get(owner) ?? []), key]);
        }
        for (const [name, k] of inner) layers.push({ name, keys: k });
      }
    };
    walk(root);
    return { tensors, layers, source: path, sha256: sha256Hex(sha256Hex(bytes)) };
  } finally {
    file.close();
  }
}

interface H5Group {
  attrs: Record<string, { value: unknown }>;
  get(path: string): unknown;
}
interface H5Dataset {
  value: unknown;
  shape: number[];
}

function strings(value: unknown): string[] {
  const list = Array.isArray(value)
    ? value
    : ArrayBuffer.isView(value)
    ? Array.from(value as unknown as ArrayLike<unknown>)
    : [value];
  return list.map((v) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v)));
}

/** `"model/block1_conv1/kernel:0"` -> `"block1_conv1/kernel"`: the last layer/param pair. */
export function weightKey(name: string): string {
  const parts = name.replace(/:\d+$/, "").split("/");
  return parts.slice(-2).join("/");
}

export interface LoadReport {
  /** Layers whose weights were set. */
  loaded: string[];
  /** Weight keys in the file that no layer took (e.g. a discarded classifier head). */
  unused: string[];
  /** "name" when every layer matched by name, "order" when Keras' by-order rule was used. */
  matchedBy: "name" | "order";
}

/** Sets every weight-bearing layer of `model` from the file. Layers are matched by name; if the
 * names differ but the file holds the same weight-bearing layers in the same order (Keras'
 * default `load_weights`), by order. Missing layers and shape mismatches are errors. */
export function assignWeights(model: tf.LayersModel, file: WeightFile): LoadReport {
  const targets = model.layers.filter((l) => l.weights.length > 0);
  const byName = targets.every((l) =>
    l.weights.every((w) => file.tensors.has(`${l.name}/${param(w.originalName)}`))
  );
  let pairs: { layer: (typeof targets)[number]; keys: string[] }[];
  let matchedBy: LoadReport["matchedBy"] = "name";
  if (byName) {
    pairs = targets.map((layer) => ({
      layer,
      keys: layer.weights.map((w) => `${layer.name}/${param(w.originalName)}`),
    }));
  } else {
    const fileLayers = file.layers.filter((l) => l.keys.length > 0);
    const missing = targets.find((l) =>
      !l.weights.every((w) => file.tensors.has(`${l.name}/${param(w.originalName)}`))
    )!;
    // Keras' by-order rule applies only to a file with exactly the model's weight-bearing layers.
    if (fileLayers.length !== targets.length) {
      throw new DataError(
        file.source,
        `no weights for layer '${missing.name}' ` +
          `(expects ${
            missing.weights.map((w) => `${param(w.originalName)} [${w.shape}]`).join(", ")
          })`,
      );
    }
    pairs = targets.map((layer, i) => ({ layer, keys: fileLayers[i].keys }));
    matchedBy = "order";
  }
  const used = new Set<string>();
  const assignments: [tf.LayerVariable, tf.Tensor, string][] = [];
  for (const { layer, keys } of pairs) {
    if (keys.length !== layer.weights.length) {
      throw new DataError(
        file.source,
        `layer '${layer.name}' has ${layer.weights.length} weights, file has ${keys.length} (${
          keys.join(", ")
        })`,
      );
    }
    layer.weights.forEach((w, i) => {
      const tensor = file.tensors.get(keys[i])!;
      if (!tf.util.arraysEqual(tensor.shape, w.shape as number[])) {
        throw new DataError(
          file.source,
          `layer '${layer.name}' weight '${param(w.originalName)}': ` +
            `file has shape [${tensor.shape}], model expects [${w.shape}]`,
        );
      }
      assignments.push([w, tensor, keys[i]]);
    });
    keys.forEach((k) => used.add(k));
  }
  for (const [variable, tensor] of assignments) variable.write(tensor);
  return {
    loaded: pairs.map((p) => p.layer.name),
    unused: [...file.tensors.keys()].filter((k) => !used.has(k)),
    matchedBy,
  };
}

/** Frees the file's tensors (after assignment the model holds its own copies). */
export function disposeWeightFile(file: WeightFile): void {
  for (const t of file.tensors.values()) t.dispose();
}

function param(originalName: string): string {
  return originalName.slice(originalName.lastIndexOf("/") + 1);
}
