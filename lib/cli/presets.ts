/**
 * `deno task presets`: the built-in presets, and any of them (or a preset file) printed as the
 * JSON a preset file holds, with the everyday options applied, as a starting point:
 * `deno task presets cpu --schedule cosine > my.json`, then `--preset my.json`.
 */
import { runMain } from "./main.ts";
import { changedPreset, parseCli, presetByName, RECIPE_OPTIONS } from "./run_args.ts";
import { PRESETS } from "../run/presets.ts";
import { presetJson } from "../run/preset_file.ts";
import { UsageError } from "../errors.ts";

const HELP = `Usage: deno task presets [NAME|FILE] [recipe options]

Without a name: the built-in presets, one line each. With one: that preset as JSON (a preset
file), with any recipe option of train and reproduce applied (--lr, --rounds, --steps,
--batch-size, --image-size, --backbone, --unfreeze-from, --cached-batches, --schedule, --warmup,
--patience, --label-smoothing, --mixup, --cutmix, --ema; see deno task train --help).

  deno task presets cpu --schedule cosine --label-smoothing 0.1 > my.json
  deno task train --preset my.json`;

await runMain(async () => {
  const { values, positionals } = parseCli(HELP, RECIPE_OPTIONS);
  if (positionals.length > 1) throw new UsageError("one preset at a time (see --help)");
  const [name] = positionals;
  if (name === undefined) {
    for (const preset of Object.values(PRESETS)) {
      const stages = preset.stages.map((s) => `${s.rounds}x${s.stepsPerRound}`).join(", ");
      console.log(
        `${preset.name.padEnd(6)} ${preset.backbone.name} at ${preset.backbone.size} px, ` +
          `${preset.mode}, batch ${preset.batchSize}, stages ${stages} (rounds x steps), ` +
          `${preset.transferStages.length} transfer stages`,
      );
    }
    return;
  }
  const preset = await presetByName(name);
  console.log(presetJson(changedPreset(preset, values)).trimEnd());
});
