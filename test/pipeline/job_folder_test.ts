/**
 * A job folder's own settings (reproduce.json): one the command leaves out is what the folder was
 * made with, else its default; one it gives that differs is refused, naming the file. And what a
 * run's identity holds of its preset: the training recipe, not the flip of its predictions.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { settleSettings } from "@/pipeline/job_folder.ts";
import { resolveRunSettings, runIdentity } from "@/run/config.ts";
import { PRESETS } from "@/run/presets.ts";
import type { DatasetListing } from "@/data/dataset.ts";
import { tempDir } from "../fixtures.ts";

type Job = { flip: boolean; threshold: number; transfer: boolean };
const PRESET_ON: Job = { flip: true, threshold: 0, transfer: true };

Deno.test("job settings: left out, what the folder was made with; given and different, refused", async () => {
  const dir = await tempDir();
  const out = join(dir, "job");
  const record = join(out, "reproduce.json");

  // A new folder: the defaults (flip as the preset says), recorded.
  assert.deepEqual(await settleSettings<Job>(out, {}, PRESET_ON), PRESET_ON);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(record)), PRESET_ON);

  // Run again after the defaults moved (a preset that no longer flips): the folder's own stay.
  const later: Job = { flip: false, threshold: 0.5, transfer: false };
  assert.deepEqual(await settleSettings<Job>(out, {}, later), PRESET_ON);
  // Given and the same: fine. Given and different: one line naming the file and the setting.
  assert.deepEqual(await settleSettings<Job>(out, { flip: true }, later), PRESET_ON);
  await assert.rejects(
    () => settleSettings<Job>(out, { flip: false }, PRESET_ON),
    (error: Error) => {
      assert.equal(
        error.message,
        `${record}: flip: this run folder was made with true, the command asks false; run it ` +
          "with the options it was made with, or start it in another folder (--out)",
      );
      return true;
    },
  );

  // A record older than a setting: that one takes its default, the recorded ones stay.
  await Deno.writeTextFile(record, JSON.stringify({ flip: false, transfer: true }));
  assert.deepEqual(await settleSettings<Job>(out, {}, PRESET_ON), {
    flip: false,
    threshold: 0,
    transfer: true,
  });

  // A folder of other files is not made a job's.
  const foreign = join(dir, "foreign");
  await Deno.mkdir(foreign);
  await Deno.writeTextFile(join(foreign, "notes.txt"), "mine");
  await assert.rejects(() => settleSettings<Job>(foreign, {}, PRESET_ON), /not a reproduce run/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run identity: the preset's flip is not part of the training recipe; its training is", () => {
  const listing: DatasetListing = {
    root: "/data",
    layout: "imagefolder",
    train: [{ id: "a/1.jpg", path: "/data/a/1.jpg", label: "a" }],
    test: [],
    skipped: [],
  };
  const weights = { path: "/weights", sha256: "0" };
  const recipe = (preset: typeof PRESETS.cpu) =>
    runIdentity(
      resolveRunSettings({ data: "/data", weights: "/weights", preset }),
      listing,
      weights,
    )
      .settings.recipe;
  const { flip: _, ...unflipped } = PRESETS.cpu;
  assert.equal(recipe(PRESETS.cpu), recipe(unflipped));
  assert.equal(recipe(PRESETS.cpu), recipe({ ...PRESETS.cpu, flip: false }));
  assert.notEqual(recipe(PRESETS.cpu), recipe({ ...PRESETS.cpu, ema: 0.99 }));
});
