/** A trained run's model, rebuilt from its `run.json` and the weights of one of its checkpoints. */
import { initBackend } from "../engine/tf.ts";
import { readSplit } from "../data/prepare.ts";
import type { LabelMap } from "../data/labels.ts";
import { buildBackbone } from "../model/index.ts";
import { buildSeedModel, disposeSeedModel, type SeedModel } from "../model/seed_model.ts";
import { type Holder, holderOf, replaceHolder } from "./registry.ts";
import { DataError } from "../errors.ts";
import { bestOf, type CheckpointMeta, listCheckpoints, loadCheckpoint } from "./checkpoint.ts";
import { readRunConfig, type RunConfig } from "./config.ts";
import { runFiles } from "../layout.ts";

export interface LoadedRun {
  model: SeedModel;
  config: RunConfig;
  labels: LabelMap;
  checkpoint: { path: string; meta: CheckpointMeta };
}

/**
 * The run's model with the weights of its best checkpoint (or of `which`: "latest"). Loading the
 * same checkpoint again in this process gives the same model back; loading another checkpoint of
 * the run (it trained on) frees the model loaded before: a notebook cell run twice holds one model.
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
  await initBackend({ quiet: true });
  const config = await readRunConfig(runDir);
  const all = await listCheckpoints(runFiles(runDir).checkpoints);
  const checkpoint = which === "best" ? bestOf(all) : all.at(-1);
  if (!checkpoint) throw new DataError(runDir, "no complete checkpoint (train first)");
  const kind = `loaded ${which} model`;
  const known = (holderOf(kind, runDir) as LoadedHolder | undefined)?.loaded;
  if (
    known && known.checkpoint.path === checkpoint.path &&
    known.checkpoint.meta.savedAt === checkpoint.meta.savedAt && !isDisposed(known.model)
  ) {
    return known;
  }
  const { labels } = await readSplit(runDir);
  const { backbone: b } = config.preset;
  const backbone = buildBackbone(b.name, b);
  const model = buildSeedModel(backbone, {
    classes: labels.size,
    seed: config.seed,
    glu: config.glu,
  });
  try {
    await loadCheckpoint(checkpoint.path, model);
  } catch (error) {
    disposeSeedModel(model);
    throw error;
  }
  const loaded = { model, config, labels, checkpoint };
  const holder: LoadedHolder = {
    loaded,
    release: () => Promise.resolve(isDisposed(model) ? undefined : disposeSeedModel(model)),
  };
  await replaceHolder(kind, runDir, holder);
  return loaded;
}

interface LoadedHolder extends Holder {
  loaded: LoadedRun;
}

/** Whether a model's tensors were freed (by its owner, or by a newer load). */
function isDisposed(model: SeedModel): boolean {
  return model.centers.isDisposed;
}
