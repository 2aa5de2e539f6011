/**
 * Puts ImageNet weights into a backbone from what the user names: a local TF.js or Keras file or
 * folder, or `imagenet` for the official Keras file (downloaded once into the cache, checked).
 */
import { resolve } from "node:path";
import type { Backbone, BackboneSpec } from "./backbone.ts";
import { downloadCached } from "../download.ts";
import { fromRoot } from "../paths.ts";
import { UsageError } from "../errors.ts";
import {
  assignWeights,
  disposeWeightFile,
  type LoadReport,
  readWeightFile,
  type WeightFile,
} from "./weights.ts";

/**
 * ImageNet weights read once: decoded, and fingerprinted from the same bytes. A job reads them
 * before it writes anything, and hands them to each run it trains (its identity, its model).
 */
export interface PretrainedWeights {
  file: WeightFile;
  /** What a run's identity records of them. */
  fingerprint: { path: string; sha256: string };
}

/** Reads the weights a user names; `imagenet` is the backbone's official file (downloaded once
 * into the cache, checked). Free them with `disposePretrained` when every run has its copy. */
export async function readPretrained(
  spec: BackboneSpec,
  weights: string,
  { cacheDir = fromRoot("data", "cache", "weights") } = {},
): Promise<PretrainedWeights> {
  const file = await readWeightFile(await weightsPath(spec, weights, cacheDir));
  const fingerprint = weights === "imagenet"
    ? { path: weights, sha256: "official (pinned by the download)" }
    : { path: resolve(weights), sha256: file.sha256 };
  return { file, fingerprint };
}

export function disposePretrained(weights: PretrainedWeights): void {
  disposeWeightFile(weights.file);
}

/** Puts the weights into a backbone: read now from what the user names, or as read before. */
export async function loadPretrained(
  backbone: Backbone,
  weights: string | PretrainedWeights,
): Promise<LoadReport & { path: string }> {
  const read = typeof weights === "string" ? await readPretrained(backbone.spec, weights) : weights;
  try {
    return { ...assignWeights(backbone.model, read.file), path: read.file.source };
  } finally {
    if (read !== weights) disposePretrained(read);
  }
}

async function weightsPath(spec: BackboneSpec, weights: string, cacheDir: string) {
  if (weights !== "imagenet") return weights;
  const official = spec.officialWeights;
  if (!official) {
    throw new UsageError(
      `--weights imagenet: no official ImageNet weights known for ${spec.name}; ` +
        "pass a file (--weights PATH)",
    );
  }
  return await downloadCached(official.url, {
    file: official.file,
    cacheDir,
    md5: official.md5,
    sha256: official.sha256,
    instead: `without network, fetch ${official.file} elsewhere and pass it: --weights PATH`,
  });
}
