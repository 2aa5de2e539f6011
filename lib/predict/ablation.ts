/**
 * Reading `bench:ablation`'s results (bench/ablation.json) and saying which differences from the
 * full recipe stand out of the seeds' noise. Each variant ran with the same seeds as the full
 * recipe (the same split, the same batches), so the differences are taken seed by seed: a
 * variant's difference counts when its mean is more than twice its standard error, `2 sd / sqrt(n)`
 * of the per-seed differences (a rough two-sided 95% bound; with three seeds a standard deviation
 * is itself uncertain, so read "within noise" as "not shown").
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
  /** Points against the full recipe (the mean of the per-seed differences), and twice its
   * standard error. */
  difference: number;
  noise: number;
  beyondNoise: boolean;
}

/** Each variant against the first (the full recipe), seed by seed. */
export function ablationVerdicts(bench: AblationBench): AblationVerdict[] {
  const [full] = bench.summary;
  const fullBySeed = new Map(
    bench.rows.filter((r) => r.variant === full.variant).map((r) => [r.seed, r.accuracy]),
  );
  return bench.summary.map((s) => {
    if (s === full) return { ...s, difference: 0, noise: 0, beyondNoise: false };
    const diffs = bench.rows.filter((r) => r.variant === s.variant && fullBySeed.has(r.seed))
      .map((r) => 100 * (r.accuracy - fullBySeed.get(r.seed)!));
    const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    const sd = Math.sqrt(
      diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / Math.max(1, diffs.length - 1),
    );
    const noise = (2 * sd) / Math.sqrt(diffs.length);
    return { ...s, difference: mean, noise, beyondNoise: Math.abs(mean) > noise };
  });
}
