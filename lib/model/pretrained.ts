/**
 * Puts ImageNet weights into a backbone from what the user names: a local TF.js or Keras file or
 * folder, or `imagenet` for the official Keras file (downloaded once into the cache, checked).
 */
import { type Backbone } from "./backbone.ts";
import { downloadCached } from "../download.ts";
import { fromRoot } from "../paths.ts";
import { UsageError } from "../errors.ts";
import { assignWeights, disposeWeightFile, type LoadReport, readWeightFile } from "./weights.ts";

export async function loadPretrained(
  backbone: Backbone,
  weights: string,
  { cacheDir = fromRoot("data", "cache", "weights") } = {},
): Promise<LoadReport & { path: string }> {
  let path = weights;
  if (weights === "imagenet") {
    const official = backbone.spec.officialWeights;
    if (!official) {
      throw new UsageError(
        `--weights imagenet: no official ImageNet weights known for ${backbone.spec.name}; ` +
          "pass a file (--weights PATH)",
      );
    }
    path = await downloadCached(official.url, {
      file: official.file,
      cacheDir,
      md5: official.md5,
      sha256: official.sha256,
      instead: `without network, fetch ${official.file} elsewhere and pass it: --weights PATH`,
    });
  }
  const file = await readWeightFile(path);
  try {
    return { ...assignWeights(backbone.model, file), path: file.source };
  } finally {
    disposeWeightFile(file);
  }
}

/**
 * Checks that a path holds weights this project reads (format, shards, lengths), without keeping
 * them: what a command does before it writes the first file of a run folder.
 */
export async function checkWeightFile(weights: string): Promise<void> {
  if (weights === "imagenet") return;
  disposeWeightFile(await readWeightFile(weights));
}
