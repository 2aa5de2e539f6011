/**
 * The command-line options `deno task train` and `deno task reproduce` share, parsed once: data,
 * weights, preset, run folder, seed, smoke-test size, cache folder, help.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { resolveDataset } from "../data/datasets.ts";
import { defaultDataset, defaultWeights } from "../paths.ts";
import { type Preset, resolvePreset } from "../train/presets.ts";

const RUN_OPTIONS = {
  data: { type: "string" },
  weights: { type: "string" },
  preset: { type: "string", default: "cpu" },
  out: { type: "string" },
  seed: { type: "string", default: "0" },
  small: { type: "boolean", default: false },
  "cache-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Deno.args parsed with the shared options plus `extra`; prints `help` and exits on -h. */
export function parseRunArgs<const T extends Options>(help: string, extra: T) {
  const { values } = parseArgs({ args: Deno.args, options: { ...RUN_OPTIONS, ...extra } });
  if ((values as { help?: boolean }).help) {
    console.log(help);
    Deno.exit(0);
  }
  return values;
}

export interface RunInputs {
  preset: Preset;
  seed: number;
  /** Dataset root (a named dataset such as "imagewoof" downloaded first). */
  data: string;
  weights: string;
  cacheDir?: string;
}

/** What the shared options mean, with their defaults. */
export async function runInputs(values: {
  data?: string;
  weights?: string;
  preset: string;
  seed: string;
  small: boolean;
  "cache-dir"?: string;
}): Promise<RunInputs> {
  return {
    preset: resolvePreset(values.preset, values.small),
    seed: Number(values.seed),
    data: await resolveDataset(values.data ?? defaultDataset()),
    weights: values.weights ?? defaultWeights(),
    cacheDir: values["cache-dir"],
  };
}
