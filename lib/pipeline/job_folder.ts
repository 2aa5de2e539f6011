/**
 * A job folder's contract beyond its training runs: the inputs are read before the first file is
 * written (so a failed start leaves nothing that refuses the corrected one), and the options that
 * change its files (`reproduce.json`) are refused when they differ from those it was made with.
 */
import { basename, join } from "node:path";
import { DataError, UsageError } from "../errors.ts";
import { readDataset } from "../data/readers.ts";
import type { DatasetListing } from "../data/dataset.ts";
import type { PretrainedWeights } from "../model/pretrained.ts";
import { readPretrainedFor } from "../train/run.ts";
import { refuseForeignFolder } from "../run/folder.ts";
import { exists, readJsonIfAny, writeTextAtomic } from "../files.ts";
import { jobFiles, runFiles } from "../layout.ts";

import type { ReproduceOptions } from "./reproduce.ts";

/** The dataset and the weights are read (once: the job hands them to both of its runs), and
 * nothing to predict is an error, before the first file of the folder is written: a failed start
 * leaves nothing that refuses the corrected one. The caller frees the weights. */
export async function preflight(
  options: Pick<
    ReproduceOptions,
    "data" | "weights" | "preset" | "testFraction" | "listing" | "pretrained"
  >,
): Promise<{ listing: DatasetListing; pretrained: PretrainedWeights }> {
  const listing = options.listing ?? await readDataset(options.data);
  if (listing.layout === "competition" && !listing.test.length) {
    throw new DataError(
      join(options.data, "test"),
      "no test photos: the competition layout needs test/<image_id>.jpg to predict",
    );
  } else if (listing.layout === "imagefolder" && options.testFraction === 0) {
    throw new UsageError(
      "--test-fraction 0 leaves an ImageFolder dataset without test photos: nothing to predict",
    );
  }
  return { listing, pretrained: options.pretrained ?? await readPretrainedFor(options) };
}

/** The options that change a reproduce folder's files beyond its training runs (reproduce.json):
 * each one the command gives, else what the folder was made with, else its default. A given one
 * that differs from what the folder was made with is refused; a new folder records them. */
export async function settleSettings<T extends Record<string, unknown>>(
  out: string,
  given: Partial<T>,
  defaults: T,
): Promise<T> {
  const file = jobFiles(out).record;
  const saved = await readJsonIfAny<Record<string, unknown>>(
    file,
    `it records ${Object.keys(defaults).join(", ")}; ` +
      "remove it and run the command with the options this run was started with",
  );
  const asked = Object.fromEntries(
    Object.entries(given).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
  const made = saved ? { file, settings: saved } : await madeWith(out);
  if (made) compareSettings(made.file, made.settings, asked);
  const kept = Object.fromEntries(
    Object.keys(defaults).filter((key) => made && key in made.settings)
      .map((key) => [key, made!.settings[key]]),
  ) as Partial<T>;
  const settled = { ...defaults, ...kept, ...asked };
  if (!saved) await writeTextAtomic(file, JSON.stringify(settled, null, 1));
  return settled;
}

/** What a folder without its record was made with, as its later parts say; a new folder is made
 * (a folder of other files is refused). */
async function madeWith(
  out: string,
): Promise<{ file: string; settings: Record<string, unknown> } | undefined> {
  await Deno.mkdir(out, { recursive: true });
  const parts = jobFiles(out);
  // The record is gone (removed, as its damaged-file line advises) but the job's parts are here:
  // what they were made with is still written in them.
  if (await exists(runFiles(parts.train).config)) return await recordedSettings(out);
  // A folder whose train/ part was trained alone (notebook 03) is continued; train() checks it.
  await refuseForeignFolder(
    out,
    [basename(parts.train)],
    "not empty and not a reproduce run folder; start it in another folder (--out)",
  );
  return undefined;
}

function compareSettings(
  file: string,
  saved: Record<string, unknown>,
  wanted: Record<string, unknown>,
): void {
  for (const [key, value] of Object.entries(wanted)) {
    if (!(key in saved)) continue;
    if (JSON.stringify(saved[key]) !== JSON.stringify(value)) {
      throw new DataError(
        file,
        `${key}: this run folder was made with ${JSON.stringify(saved[key])}, the command ` +
          `asks ${JSON.stringify(value)}; run it with the options it was made with, or start ` +
          "it in another folder (--out)",
      );
    }
  }
}

/** The job settings a folder's later parts recorded: the finished job's summary, or the
 * transfer run's identity (its pseudo-labels depend on them). */
async function recordedSettings(
  out: string,
): Promise<{ file: string; settings: Record<string, unknown> } | undefined> {
  const parts = jobFiles(out);
  const summary = await Deno.readTextFile(parts.summary).then(JSON.parse, () => undefined);
  if (summary?.settings) return { file: parts.summary, settings: summary.settings };
  const transfer = runFiles(parts.transfer).config;
  const config = await Deno.readTextFile(transfer).then(JSON.parse, () => undefined);
  const job = config?.identity?.settings?.job;
  return job ? { file: transfer, settings: { ...job, transfer: true } } : undefined;
}
