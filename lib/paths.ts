/**
 * Paths from the project root, found by walking up from the working directory to `deno.json`.
 * Notebook cells cannot use `import.meta` and run with the notebook's folder as working
 * directory, so they (and the CLI) name files through these helpers.
 */
import { dirname, join, relative, resolve } from "node:path";
import { envFlag, envNumber } from "./env.ts";

/** A folder a variable names (unset or empty: none). */
const envPath = (name: string) => Deno.env.get(name)?.trim() || undefined;

let root: string | undefined;

export function projectRoot(): string {
  if (root) return root;
  let dir = resolve(Deno.cwd());
  while (true) {
    try {
      Deno.statSync(join(dir, "deno.json"));
      return (root = dir);
    } catch {
      const parent = dirname(dir);
      if (parent === dir) {
        throw new Error(`no deno.json above ${Deno.cwd()}: start from the project`);
      }
      dir = parent;
    }
  }
}

/** A path relative to the project root, e.g. `fromRoot("data/runs")`. */
export function fromRoot(...parts: string[]): string {
  return join(projectRoot(), ...parts);
}

/** The decoded-photo cache: `data/cache`, unless `DOGS_CACHE` names another folder. */
export function cacheDir(): string {
  return envPath("DOGS_CACHE") ?? fromRoot("data", "cache");
}

/** Where notebooks keep their runs: `data/runs`, unless `DOGS_RUNS` names another folder (the
 * notebook tests give each test run a fresh one). */
export function runsDir(): string {
  return envPath("DOGS_RUNS") ?? fromRoot("data", "runs");
}

/** The shared ImageWoof photos next to the project, unless `DOGS_DATA` names another dataset. */
export function defaultDataset(): string {
  return envPath("DOGS_DATA") ?? fromRoot("..", "shared", "data", "imagewoof", "train");
}

/** The shared MobileNetV2-0.35 weights, unless `DOGS_WEIGHTS` names others. */
export function defaultWeights(): string {
  return envPath("DOGS_WEIGHTS") ??
    fromRoot("..", "shared", "weights", "mobilenet_v2_0.35_224");
}

/** True when notebooks should run on a small slice (CI sets `DOGS_SMALL=1`). */
export function smallData(): boolean {
  return envFlag("DOGS_SMALL");
}

/** The notebooks' wall-time budget in minutes (`DOGS_MINUTES=5`: what `--minutes 5` is to the
 * CLI), or undefined (the preset as it is; also under DOGS_SMALL). */
export function notebookMinutes(): number | undefined {
  // The range `--minutes` takes: above 0, at most a week.
  const minutes = envNumber("DOGS_MINUTES", { above: 0, max: 10080, unit: "minutes" });
  return smallData() ? undefined : minutes;
}

/** A line with its absolute paths shown relative to the project (`data/runs/...`,
 * `../shared/...`): notebook outputs stay short and do not carry one machine's folders. */
export function relativePaths(line: string): string {
  const base = projectRoot();
  return line.replace(/(^|[\s(='"])(\/[^\s)'",:]+)/g, (_, before: string, path: string) => {
    const short = relative(base, path);
    return before + (short.length < path.length ? short || "." : path);
  });
}
