/** A trained run's model, rebuilt from its `run.json` and the weights of one of its checkpoints. */
import { join } from "node:path";
import { readSplit } from "../data/prepare.ts";
import type { LabelMap } from "../data/labels.ts";
import { buildBackbone } from "../model/index.ts";
import { buildSeedModel, type SeedModel } from "../model/seed_model.ts";
import { DataError } from "../errors.ts";
import { bestOf, type CheckpointMeta, listCheckpoints, loadCheckpoint } from "./checkpoint.ts";
import { readRunConfig, type RunConfig } from "./config.ts";

export interface LoadedRun {
  model: SeedModel;
  config: RunConfig;
  labels: LabelMap;
  checkpoint: { path: string; meta: CheckpointMeta };
}

/**
 * The run's model with the weights of its best checkpoint (or of `which`: "latest").
 *
 * @example
 * ```ts
 * const run = await loadRun("data/runs/notebook-cpu/train");
 * console.log(run.checkpoint.meta.metrics.blend, run.labels.size);
 * ```
 */
export async function loadRun(
  runDir: string,
  which: "best" | "latest" = "best",
): Promise<LoadedRun> {
  const config = await readRunConfig(runDir);
  const all = await listCheckpoints(join(runDir, "checkpoints"));
  const checkpoint = which === "best" ? bestOf(all) : all.at(-1);
  if (!checkpoint) throw new DataError(runDir, "no complete checkpoint (train first)");
  const { labels } = await readSplit(runDir);
  const { backbone: b } = config.preset;
  const backbone = buildBackbone(b.name, { alpha: b.alpha, size: b.size });
  const model = buildSeedModel(backbone, {
    classes: labels.size,
    seed: config.seed,
    glu: config.glu,
  });
  await loadCheckpoint(checkpoint.path, model);
  return { model, config, labels, checkpoint };
}
