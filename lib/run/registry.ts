/**
 * What this process holds of each run folder: an open training run, an open reproduction, a model
 * loaded from a checkpoint. Opening or loading the same thing again releases what the earlier
 * opening held (its lock, its workers, its model's tensors): a notebook cell run twice replaces
 * its run instead of being refused by its own lock or keeping two models alive.
 */
import { resolve } from "node:path";

export interface Holder {
  /** Frees everything it holds; called once, when something takes its place. */
  release(): Promise<void>;
}

const held = new Map<string, Holder>();

/** The key of what `kind` holds of a folder (one holder per kind and folder). */
function key(kind: string, folder: string): string {
  return `${kind}:${resolve(folder)}`;
}

/** Releases what held `kind` of `folder` before, and records `holder` in its place. */
export async function replaceHolder(kind: string, folder: string, holder: Holder): Promise<void> {
  const k = key(kind, folder);
  const previous = held.get(k);
  held.set(k, holder);
  if (previous && previous !== holder) await previous.release();
}

/** What holds `kind` of `folder` now, if anything. */
export function holderOf(kind: string, folder: string): Holder | undefined {
  return held.get(key(kind, folder));
}
