/**
 * Checkpoints: every weight of the model (backbone, head, centers) and the optimizer's state, in
 * one folder per round named by its metrics as the seed names its files
 * (`round07-main0.912-aux0.905-blend0.918-alpha0.63`). A folder is written under a temporary
 * name and renamed when complete, so a run killed mid-write never leaves a checkpoint that looks
 * whole; `meta.json` inside it is the last file written, with the byte length and SHA-256 of the
 * weights, so that a checkpoint damaged later (a truncated copy, a bad disk) is named when read
 * instead of loading garbage.
 */
import { basename, join } from "node:path";
import { tf } from "../engine/tf.ts";
import { DataError } from "../errors.ts";
import { sha256Hex } from "../files.ts";
import type { SeedModel } from "../model/seed_model.ts";
import { checkpointFiles } from "../layout.ts";
import { truncated } from "../progress.ts";

/** Both heads' validation accuracy, and the best blend's. */
export interface HeadScores {
  main: number;
  aux: number;
  blend: number;
  alpha: number;
}

export interface RoundMetrics extends HeadScores {
  /** With `--ema`: the scores of the raw weights and of their moving average; the fields above
   * are the better one's (`kept`). */
  ema?: { raw: HeadScores; average: HeadScores; kept: "raw" | "average" };
  /** Mean training loss terms over the round. */
  loss: { total: number; main: number; center: number; aux: number };
  /** Validation loss of the main head. */
  valLoss: number;
}

export interface CheckpointMeta {
  round: number;
  /** `weights.bin` as written (absent in checkpoints of earlier versions: its length is then
   * checked against `specs.json` alone). */
  weights?: { bytes: number; sha256: string };
  stage: string;
  /** Training steps completed in the whole run (the batch cursor resumes from it). */
  step: number;
  metrics: RoundMetrics;
  seconds: number;
  savedAt: string;
  /** With a moving average of the weights (`--ema`): the checkpoint's metrics are the average's,
   * which is what loading it for use (prediction, the next stage, the transfer) gives. */
  averaged?: boolean;
}

/** A moving average of some of the model's variables (lib/train/ema.ts), as checkpoints keep it. */
export interface AveragedWeights {
  variables: readonly tf.Variable[];
  shadow: readonly tf.Tensor[];
  load(values: readonly tf.Tensor[]): void;
}

/**
 * A checkpoint's folder name: the seed's fields in the seed's order (its
 * `main_{round}_{acc0}_{acc1}_{acc2}_{alpha}`, values truncated to 4 digits as its `int(x * 10000)`
 * does), readable as decimals, rounds counted from 1.
 */
export function checkpointName(round: number, m: RoundMetrics): string {
  const r = String(round).padStart(2, "0");
  return `round${r}-main${truncated(m.main)}-aux${truncated(m.aux)}-blend${
    truncated(m.blend)
  }-alpha${m.alpha.toFixed(2)}`;
}

/** Every weight variable in layer order. (`LayersModel.weights` lists trainable weights first,
 * so its order changes when a stage unfreezes layers: useless for matching a saved file.) */
function modelVariables(model: SeedModel) {
  return [...model.backbone.model.layers, ...model.head.layers].flatMap((layer) => layer.weights);
}

/** The tensors a checkpoint holds for the model, in its order: every weight, then the centers. */
function modelTensors(model: SeedModel): tf.Variable[] {
  return [...modelVariables(model).map((w) => w.read() as tf.Variable), model.centers];
}

/** The model's weights held in memory (a run's starting point before its first checkpoint). */
export interface Snapshot {
  restore(): void;
  dispose(): void;
}

export function snapshot(model: SeedModel): Snapshot {
  const weights = modelVariables(model);
  const copies = weights.map((w) => tf.clone(w.read()));
  const centers = tf.clone(model.centers);
  return {
    restore() {
      weights.forEach((w, i) => w.write(copies[i]));
      model.centers.assign(centers);
    },
    dispose: () => tf.dispose([...copies, centers]),
  };
}

/** Writes a checkpoint folder atomically; returns its path. */
export async function saveCheckpoint(
  dir: string,
  model: SeedModel,
  optimizer: tf.Optimizer | undefined,
  meta: CheckpointMeta,
  average?: AveragedWeights,
): Promise<string> {
  const path = join(dir, checkpointName(meta.round, meta.metrics));
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });
  const tensors = modelTensors(model);
  const named = tensors.map((tensor, i) => ({ name: `w${i}`, tensor }));
  const optimizerWeights = optimizer ? await optimizer.getWeights() : [];
  const opt = optimizerWeights.map((w, i) => ({ name: `o${i}`, tensor: w.tensor }));
  // The averages after the rest, each with the index of the model tensor it averages.
  const averaged = (average?.variables ?? []).map((v) => tensors.indexOf(v));
  if (averaged.includes(-1)) throw new Error("an averaged variable is not one of the model's");
  const averages = (average?.shadow ?? []).map((tensor, i) => ({ name: `e${i}`, tensor }));
  const { data, specs } = await tf.io.encodeWeights([...named, ...opt, ...averages]);
  // `getWeights` makes a fresh tensor for the step count ("iter"); the rest are live variables.
  tf.dispose(optimizerWeights.filter((w) => w.name === "iter").map((w) => w.tensor));
  const bytes = new Uint8Array(data);
  const files = checkpointFiles(tmp);
  await Deno.writeFile(files.weights, bytes);
  await Deno.writeTextFile(
    files.specs,
    JSON.stringify({ specs, modelCount: named.length, ...(average ? { averaged } : {}) }),
  );
  const written = { ...meta, weights: { bytes: bytes.length, sha256: sha256Hex(bytes) } };
  await Deno.writeTextFile(files.meta, JSON.stringify(written, null, 1));
  await Deno.remove(path, { recursive: true }).catch(() => {});
  await Deno.rename(tmp, path);
  return path;
}

const BYTES_PER: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

interface CheckpointFiles {
  specs: tf.io.WeightsManifestEntry[];
  modelCount: number;
  /** The model tensors the averages `e0, e1, ...` average (with `--ema`). */
  averaged?: number[];
  bytes: Uint8Array;
  meta: CheckpointMeta;
}

/** A checkpoint that cannot be read, with what is wrong (`damage`) apart from what to do. */
export class DamagedCheckpoint extends DataError {
  constructor(file: string, readonly damage: string, readonly folder: string) {
    super(
      file,
      `${damage}; remove the checkpoint folder ${folder} to go back to the one before (a run ` +
        `resumes from there)`,
    );
  }
}

/** What a checkpoint holds, checked: its specs parse, and its weights have the length they need
 * (and the SHA-256 its meta recorded). A damaged one is a DataError saying what to do. */
async function readCheckpointFiles(path: string): Promise<CheckpointFiles> {
  const files = checkpointFiles(path);
  const fail = (file: string, problem: string) => new DamagedCheckpoint(file, problem, path);
  const json = async <T>(file: string): Promise<T> => {
    try {
      return JSON.parse(await Deno.readTextFile(file));
    } catch (error) {
      if (error instanceof SyntaxError) throw fail(file, `damaged (${error.message})`);
      if (error instanceof Deno.errors.NotFound) throw fail(file, "missing");
      throw error;
    }
  };
  const parsed = await json<
    { specs: tf.io.WeightsManifestEntry[]; modelCount: number; averaged?: number[] }
  >(files.specs);
  const meta = await json<CheckpointMeta>(files.meta);
  const bytes = await Deno.readFile(files.weights).catch((error) => {
    if (error instanceof Deno.errors.NotFound) throw fail(files.weights, "missing");
    throw error;
  });
  const needed = (parsed.specs ?? []).reduce(
    (sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * (BYTES_PER[s.dtype] ?? NaN),
    0,
  );
  if (bytes.length !== needed || (meta.weights && bytes.length !== meta.weights.bytes)) {
    throw fail(
      files.weights,
      `truncated or damaged: ${bytes.length} bytes, its specs need ${needed}`,
    );
  }
  if (meta.weights && sha256Hex(bytes) !== meta.weights.sha256) {
    throw fail(
      files.weights,
      `damaged: its SHA-256 is not the one recorded in ${basename(files.meta)}`,
    );
  }
  return {
    specs: parsed.specs,
    modelCount: parsed.modelCount,
    averaged: parsed.averaged,
    bytes,
    meta,
  };
}

/** Why a checkpoint cannot be loaded (undefined: it can). */
export async function checkpointProblem(path: string): Promise<string | undefined> {
  return (await checkpointDamage(path))?.message;
}

/** The damage that keeps a checkpoint from loading, or undefined when it loads. */
export async function checkpointDamage(path: string): Promise<DamagedCheckpoint | undefined> {
  try {
    await readCheckpointFiles(path);
    return undefined;
  } catch (error) {
    if (error instanceof DamagedCheckpoint) return error;
    throw error;
  }
}

/**
 * Restores a checkpoint: for use (no optimizer), the weights its metrics are of (the moving
 * average's, when it scored better); to resume its stage (with the optimizer), the raw weights,
 * the optimizer's state and, given `average`, the moving average.
 */
export async function loadCheckpoint(
  path: string,
  model: SeedModel,
  optimizer?: tf.Optimizer,
  average?: Pick<AveragedWeights, "load">,
): Promise<CheckpointMeta> {
  const { specs, modelCount, averaged = [], bytes, meta } = await readCheckpointFiles(path);
  const decoded = tf.io.decodeWeights(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer,
    specs,
  );
  const targets = modelVariables(model);
  if (modelCount !== targets.length + 1) {
    tf.dispose(Object.values(decoded));
    throw new DataError(
      path,
      `the checkpoint holds ${modelCount} model tensors, this model has ${targets.length + 1}: ` +
        "a checkpoint of another model",
    );
  }
  targets.forEach((w, i) => w.write(decoded[`w${i}`]));
  model.centers.assign(decoded[`w${targets.length}`]);
  const opt = Object.keys(decoded).filter((k) => k.startsWith("o")).sort((a, b) =>
    Number(a.slice(1)) - Number(b.slice(1))
  );
  if (optimizer && opt.length) {
    await optimizer.setWeights(opt.map((k) => ({ name: k, tensor: decoded[k] })));
    restoreAdamPowers(optimizer);
  }
  const averages = averaged.map((_, i) => decoded[`e${i}`]);
  if (optimizer) {
    if (average && averages.length) average.load(averages);
  } else if (meta.averaged) {
    const tensors = modelTensors(model);
    averaged.forEach((index, i) => tensors[index].assign(averages[i]));
  }
  // Variables hold their own references now; the decoded tensors are ours to free.
  tf.dispose(Object.values(decoded));
  return meta;
}

/**
 * tfjs' Adam keeps beta1^t and beta2^t as running float32 products, one multiply per step, but
 * `setWeights` recomputes them with `pow`, which rounds differently: a run resumed mid-stage would
 * drift from the uninterrupted one in the 7th digit. Redo the products the way training does.
 */
function restoreAdamPowers(optimizer: tf.Optimizer): void {
  const adam = optimizer as unknown as {
    accBeta1?: tf.Variable;
    accBeta2?: tf.Variable;
    beta1: number;
    beta2: number;
    iterations: number;
  };
  if (!adam.accBeta1 || !adam.accBeta2) return;
  const product = (beta: number) => {
    const b = Math.fround(beta);
    let acc = b;
    for (let i = 0; i < adam.iterations; i++) acc = Math.fround(acc * b);
    return acc;
  };
  tf.tidy(() => {
    adam.accBeta1!.assign(tf.scalar(product(adam.beta1)));
    adam.accBeta2!.assign(tf.scalar(product(adam.beta2)));
  });
}

/** Complete checkpoints in a run folder, oldest round first. */
export async function listCheckpoints(
  dir: string,
): Promise<{ path: string; meta: CheckpointMeta }[]> {
  const found: { path: string; meta: CheckpointMeta }[] = [];
  if (!(await Deno.stat(dir).catch(() => undefined))) return found;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isDirectory || !entry.name.startsWith("round") || entry.name.includes(".tmp-")) {
      continue;
    }
    const path = join(dir, entry.name);
    try {
      const meta = JSON.parse(await Deno.readTextFile(checkpointFiles(path).meta));
      found.push({ path, meta });
    } catch {
      // no meta.json: not a complete checkpoint
    }
  }
  return found.sort((a, b) => a.meta.round - b.meta.round);
}

/** The checkpoint with the best blended validation accuracy (the earliest on ties). */
export function bestOf<T extends { meta: CheckpointMeta }>(checkpoints: T[]): T | undefined {
  return checkpoints.reduce<T | undefined>(
    (best, c) => (!best || c.meta.metrics.blend > best.meta.metrics.blend ? c : best),
    undefined,
  );
}
