/**
 * Imports point one way: a module imports only from its own layer or the layers below it, and
 * `train/` and `predict/` (siblings over the run folder) not from each other. `lib/mod.ts`, the
 * notebooks' entry, sits above everything.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";

const LIB = resolve("lib");
const LAYERS: Record<string, number> = {
  ".": 0, // rng, errors, env, files, paths, progress, display, download
  engine: 1, // tfjs and its backends, ONNX Runtime
  model: 2,
  data: 3,
  augment: 4,
  run: 5,
  plot: 6,
  train: 7,
  predict: 7,
  pipeline: 8,
  cli: 9,
};

async function* modules(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* modules(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** The lib-relative targets a module imports (relative specifiers and the `@/` alias). */
function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)].map((m) => m[1]);
  return specs.flatMap((spec) => {
    if (spec.startsWith("@/")) return [spec.slice(2)];
    if (spec.startsWith(".")) return [relative(LIB, resolve(dirname(file), spec))];
    return [];
  });
}

const layerOf = (path: string) => (path.includes("/") ? path.split("/")[0] : ".");

Deno.test("layers: lib/ imports point one way", async () => {
  const wrong: string[] = [];
  for await (const file of modules(LIB)) {
    const from = relative(LIB, file);
    if (from === "mod.ts") continue;
    const source = layerOf(from);
    assert.ok(source in LAYERS, `${from}: layer ${source} has no place in LAYERS`);
    for (const to of importsOf(file, await Deno.readTextFile(file))) {
      const target = layerOf(to);
      if (target === source) continue;
      const up = !(target in LAYERS) || LAYERS[target] >= LAYERS[source];
      if (up) wrong.push(`${from} imports ${to}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("layers: the check sees an upward import", () => {
  const file = join(LIB, "data", "x.ts");
  const targets = importsOf(
    file,
    `import { train } from "../train/run.ts";\nimport "@/engine/tf.ts";`,
  );
  assert.deepEqual(targets, ["train/run.ts", "engine/tf.ts"]);
  assert.ok(LAYERS[layerOf(targets[0])] > LAYERS[layerOf("data/x.ts")]);
});
