/**
 * The command-line options `deno task train` and `deno task reproduce` share, parsed once: data,
 * weights, preset, run folder, seed, smoke-test size, cache folder, help. Every value is checked
 * here, so a typo is one line naming the option instead of a run with seed NaN.
 */
import { basename, dirname, resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { resolveDataset } from "../data/datasets.ts";
import { UsageError } from "../errors.ts";
import { defaultDataset, defaultWeights, fromRoot } from "../paths.ts";
import { type Preset, resolvePreset } from "../run/presets.ts";
import { DEFAULTS } from "../defaults.ts";
import { budgetName, budgetPreset } from "../pipeline/budget.ts";

const RUN_OPTIONS = {
  data: { type: "string" },
  weights: { type: "string" },
  preset: { type: "string", default: "cpu" },
  out: { type: "string" },
  seed: { type: "string" },
  minutes: { type: "string" },
  small: { type: "boolean", default: false },
  "cache-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Deno.args parsed with `options`; prints `help` and exits on -h; a bad option is a UsageError. */
export function parseCliArgs<const T extends Options>(help: string, options: T, args = Deno.args) {
  return parseCli(help, options, args, false).values;
}

/** As parseCliArgs, also returning the arguments that are not options (photos, folders). */
export function parseCli<const T extends Options>(
  help: string,
  options: T,
  args = Deno.args,
  allowPositionals = true,
) {
  const withHelp = { help: { type: "boolean", short: "h" }, ...options } as const;
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(args, withHelp),
      options: withHelp,
      allowPositionals,
    });
  } catch (error) {
    // Node's message for an unknown option goes on about positionals and leaves a quote open.
    const message = (error as Error).message.split("\n")[0].split(". To specify a positional")[0];
    throw new UsageError(`${message} (see --help)`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(help);
    Deno.exit(0);
  }
  return parsed;
}

/** Deno.args parsed with the shared run options plus `extra`. */
export function parseRunArgs<const T extends Options>(help: string, extra: T, args = Deno.args) {
  return parseCliArgs(help, { ...RUN_OPTIONS, ...extra }, args);
}

/** `--seed -1` as `--seed=-1`: parseArgs would take "-1" for an option. */
function joinNegativeValues(args: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : undefined;
    const next = args[i + 1];
    if (name && options[name]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/** An option's value parsed when it was given; undefined when it was left out (the library, or
 * the caller with `??`, fills it from DEFAULTS). */
export function given<T>(value: string | undefined, parse: (value: string) => T): T | undefined {
  return value === undefined ? undefined : parse(value);
}

/** A whole number (negative allowed), or a UsageError naming the option. */
export function integerOption(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(n)) {
    throw new UsageError(`--${name} '${value}': expected a whole number`);
  }
  return n;
}

/** A number in [min, max] (or (min, max) with `open`), or a UsageError naming the option. */
export function numberOption(
  name: string,
  value: string,
  range: { min: number; max: number; open?: boolean },
): number {
  const n = Number(value);
  const inside = range.open ? n > range.min && n < range.max : n >= range.min && n <= range.max;
  if (value.trim() === "" || !Number.isFinite(n) || !inside) {
    const [l, r] = range.open ? ["(", ")"] : ["[", "]"];
    throw new UsageError(
      `--${name} '${value}': expected a number in ${l}${range.min}, ${range.max}${r}`,
    );
  }
  return n;
}

export interface RunInputs {
  preset: Preset;
  seed: number;
  /** Dataset root (a named dataset such as "imagewoof" downloaded first). */
  data: string;
  weights: string;
  cacheDir?: string;
  /** The wall-time budget (`--minutes`): the preset is scaled to it once the backend is up. */
  minutes?: number;
}

/** What the shared options mean, with their defaults. */
export async function runInputs(values: {
  data?: string;
  weights?: string;
  preset: string;
  seed?: string;
  minutes?: string;
  small: boolean;
  "cache-dir"?: string;
}): Promise<RunInputs> {
  let preset: Preset;
  try {
    preset = resolvePreset(values.preset, values.small);
  } catch (error) {
    throw new UsageError(`--preset: ${(error as Error).message}`);
  }
  const minutes = given(values.minutes, (v) => numberOption("minutes", v, { min: 0, max: 10080 }));
  if (minutes !== undefined && values.small) {
    throw new UsageError("--minutes and --small: choose one (--small is a fixed smoke test)");
  }
  if (minutes === 0) throw new UsageError("--minutes 0: expected a budget above 0");
  return {
    preset,
    minutes,
    seed: given(values.seed, (v) => integerOption("seed", v)) ?? DEFAULTS.seed,
    data: await resolveDataset(values.data ?? defaultDataset()),
    weights: values.weights ?? defaultWeights(),
    cacheDir: values["cache-dir"],
  };
}

/**
 * The default run folder: `data/runs/<kind>-<preset>-seed<seed>-<dataset>` (the preset named with
 * its budget, `cpu-5min`, under `--minutes`), the dataset named by
 * the last two parts of its path (`imagewoof-train`), so runs on different data never share one.
 */
export function defaultRunFolder(kind: string, inputs: RunInputs): string {
  const root = resolve(inputs.data);
  const name = [basename(dirname(root)), basename(root)]
    .map((part) => part.replace(/[^A-Za-z0-9_.-]+/g, "_")).filter((p) => p && p !== ".")
    .join("-");
  const prefix = kind ? `${kind}-` : "";
  const preset = inputs.minutes ? budgetName(inputs.preset, inputs.minutes) : inputs.preset.name;
  return fromRoot("data", "runs", `${prefix}${preset}-seed${inputs.seed}-${name}`);
}

/** The preset a run works with: the chosen one, or under `--minutes` the one planned to fit (or
 * kept from the folder's start). `job` marks a whole job (reproduce) and its settings. */
export function plannedPreset(
  inputs: RunInputs,
  out: string,
  job?: { transfer?: boolean; flip?: boolean; valFraction?: number; testFraction?: number },
): Promise<Preset> {
  if (inputs.minutes === undefined) return Promise.resolve(inputs.preset);
  const { valFraction, testFraction, ...settings } = job ?? {};
  return budgetPreset({
    data: inputs.data,
    preset: inputs.preset,
    minutes: inputs.minutes,
    out,
    job: job ? settings : undefined,
    valFraction,
    testFraction,
  });
}
