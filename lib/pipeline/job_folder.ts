/**
 * A job folder's contract beyond its training runs: the inputs are read before the first file is
 * written (so a failed start leaves nothing that refuses the corrected one), and the options that
 * change its files (`reproduce.json`) are refused when they differ from those it was made with.
 */
import { basename, join } from "node:path";
import { DataError, UsageError } from "../errors.ts";
import { readDataset } from "../data/readers.ts";
import { checkWeightFile } from "../model/pretrained.ts";
import { refuseForeignFolder } from "../run/folder.ts";
import { readJsonIfAny, writeTextAtomic } from "../files.ts";
import { jobFiles } from "../layout.ts";

import type { ReproduceOptions } from "./reproduce.ts";

/** The dataset and the weights are read, and nothing to predict is an error, before the first
 * file of the folder is written: a failed start leaves nothing that refuses the corrected one. */
export async function preflight(
  options: Pick<ReproduceOptions, "data" | "weights" | "testFraction">,
): Promise<void> {
  const listing = await readDataset(options.data);
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
  await checkWeightFile(options.weights);
}

/** The options that change a reproduce folder's files beyond its training runs (reproduce.json):
 * refused when they differ from what the folder was made with. */
export async function checkSettings(out: string, settings: Record<string, unknown>): Promise<void> {
  const file = jobFiles(out).record;
  const saved = await readJsonIfAny<Record<string, unknown>>(
    file,
    `it records ${Object.keys(settings).join(", ")}; ` +
      "remove it and run the command with the options this run was started with",
  );
  if (saved) {
    for (const [key, value] of Object.entries(settings)) {
      if (JSON.stringify(saved[key]) !== JSON.stringify(value)) {
        throw new DataError(
          file,
          `${key}: this run folder was made with ${JSON.stringify(saved[key])}, the command ` +
            `asks ${JSON.stringify(value)}; start it in another folder (--out)`,
        );
      }
    }
    return;
  }
  await Deno.mkdir(out, { recursive: true });
  // A folder whose train/ part was trained alone (notebook 03) is continued; train() checks it.
  await refuseForeignFolder(
    out,
    [basename(jobFiles(out).train)],
    "not empty and not a reproduce run folder; start it in another folder (--out)",
  );
  await writeTextAtomic(file, JSON.stringify(settings, null, 1));
}
