/** The accuracy-per-minute figure: `deno task bench:accuracy`'s points, ours beside PyTorch's. */
import { fromRoot } from "../paths.ts";
import { DataError } from "../errors.ts";
import { readJsonIfAny } from "../files.ts";
import { type Figure, lineChart } from "./figure.ts";

/** One point of the benchmark: a run's wall time and its accuracy on the carved-off test part. */
export interface AccuracyPoint {
  what: string;
  minutes: number;
  accuracy: number;
  /** Ours: the accuracy before the transfer. */
  before?: number;
  /** PyTorch, where `accuracy` has flip test-time augmentation (as ours): without it. */
  plain?: number;
}

/** What `bench:accuracy` writes (`bench/accuracy.json`): both curves and where they were made. */
export interface AccuracyBench {
  ours: AccuracyPoint[];
  torch: AccuracyPoint[];
  machine: string;
  load: string;
  date: string;
  command: string;
  /** What a reader must know to read the figure (a handicapped reference, another machine). */
  note?: string;
  /** The seeds averaged into each point (`bench:accuracy --mean`); left out: one. */
  seeds?: number[];
}

/** The committed benchmark (or another run's file). */
export async function readAccuracyBench(
  path = fromRoot("bench", "accuracy.json"),
): Promise<AccuracyBench> {
  const rerun = "run `deno task bench:accuracy` and copy its accuracy.json here";
  const bench = await readJsonIfAny<AccuracyBench>(path, rerun);
  if (!bench) throw new DataError(path, `no such file: ${rerun}`);
  if (!Array.isArray(bench.ours) || !Array.isArray(bench.torch)) {
    throw new DataError(path, "not a bench:accuracy result (no 'ours' and 'torch' points)");
  }
  return bench;
}

/** Test-part accuracy against wall time: PyTorch's fine-tune, ours before and after transfer. */
export function accuracyPerMinute(bench: AccuracyBench): Figure {
  const line = (name: string, points: AccuracyPoint[], y: (p: AccuracyPoint) => number) => ({
    name,
    x: points.map((p) => Number(p.minutes.toFixed(2))),
    y: points.map((p) => Number((100 * y(p)).toFixed(2))),
  });
  const withBefore = bench.ours.filter((p) => p.before !== undefined);
  const plain = bench.torch.filter((p) => p.plain !== undefined);
  return lineChart([
    line(
      plain.length ? "PyTorch fine-tune, flip TTA" : "PyTorch fine-tune",
      bench.torch,
      (p) => p.accuracy,
    ),
    ...(plain.length ? [line("PyTorch fine-tune, no TTA", plain, (p) => p.plain!)] : []),
    line("this project (--minutes)", bench.ours, (p) => p.accuracy),
    ...(withBefore.length
      ? [line("this project, before transfer", withBefore, (p) => p.before!)]
      : []),
  ], {
    title: `Held-out accuracy against wall time (${bench.machine})`,
    xTitle: "wall time, minutes",
    yTitle: "test-part top-1 accuracy, %",
  });
}
