/**
 * Reading `bench:ablation`'s results (bench/ablation.json) and saying which differences from the
 * full recipe stand out of the seeds' noise: a difference counts when it is more than twice its
 * standard error, `sqrt(sd_a^2 / n_a + sd_b^2 / n_b)` (a rough two-sided 95% bound; with three
 * seeds a standard deviation is itself uncertain, so read "within noise" as "not shown").
 */
import { fromRoot } from "../paths.ts";
import { DataError } from "../errors.ts";

export interface AblationSummary {
  variant: string;
  /** Test-part accuracy in percent over the seeds: mean, standard deviation, range. */
  mean: number;
  sd: number;
  min: number;
  max: number;
  seeds: number;
}

export interface AblationBench {
  seeds: number[];
  summary: AblationSummary[];
  rows: { variant: string; seed: number; accuracy: number; minutes?: number }[];
}

/** bench/ablation.json (or another run's copy); one line naming the file when it is missing. */
export async function readAblationBench(
  file = fromRoot("bench", "ablation.json"),
): Promise<AblationBench> {
  const text = await Deno.readTextFile(file).catch(() => {
    throw new DataError(file, "no ablation results: run `deno task bench:ablation`");
  });
  return JSON.parse(text) as AblationBench;
}

export interface AblationVerdict extends AblationSummary {
  /** Points against the full recipe, and twice its standard error. */
  difference: number;
  noise: number;
  beyondNoise: boolean;
}

/** Each variant against the first (the full recipe). */
export function ablationVerdicts(summary: readonly AblationSummary[]): AblationVerdict[] {
  const [full] = summary;
  return summary.map((s) => {
    const noise = 2 * Math.sqrt(s.sd ** 2 / s.seeds + full.sd ** 2 / full.seeds);
    const difference = s.mean - full.mean;
    return { ...s, difference, noise, beyondNoise: s !== full && Math.abs(difference) > noise };
  });
}
