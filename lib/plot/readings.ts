/**
 * The sentence under a figure, computed from the numbers it draws (as keras-io examples read their
 * figures in place): "validation rose from 84.1% to 85.9% in stage 2". Each reading is a pure
 * function of the figure's own data, so it stays true when the notebook runs on other data, a
 * smaller run or another seed; the notebooks print them with `console.log`.
 */
import type { HistoryRow } from "../run/history.ts";
import type { AccuracyBench } from "./budget.ts";

const pct = (x: number, digits = 1) => `${(100 * x).toFixed(digits)}%`;
const points = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(1)}`;
const signed = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(1)}`;

/** Index of the largest (or smallest) value; ties keep the first. */
function argBest(values: readonly number[], largest = true): number {
  let at = 0;
  values.forEach((v, i) => {
    if (largest ? v > values[at] : v < values[at]) at = i;
  });
  return at;
}

/** Photos per breed: the range, and how unbalanced the classes are. */
export function countsReading(names: readonly string[], counts: readonly number[]): string {
  const most = argBest(counts);
  const least = argBest(counts, false);
  const total = counts.reduce((a, b) => a + b, 0);
  return `${names.length} breeds, ${total} photos: from ${counts[least]} (${names[least]}) to ` +
    `${counts[most]} (${names[most]}) per breed, a ratio of ${
      (counts[most] / counts[least]).toFixed(2)
    }. ` +
    (counts[most] / counts[least] < 1.5
      ? "Close to balanced: the seed's class-weighted batches change little here."
      : "Unbalanced: the seed's batches draw breeds in proportion to their photos.");
}

/** The split per breed: the share each part gets, and its smallest validation and test parts. */
export function splitReading(
  perClass: readonly { name: string; kept: number; heldOut: number; test: number }[],
): string {
  const sum = (f: (c: (typeof perClass)[number]) => number) =>
    perClass.reduce((s, c) => s + f(c), 0);
  const all = sum((c) => c.kept + c.heldOut + c.test);
  const fewestVal = perClass[argBest(perClass.map((c) => c.heldOut), false)];
  const fewestTest = perClass[argBest(perClass.map((c) => c.test), false)];
  return `Every breed is split alike: ${pct(sum((c) => c.kept) / all, 0)} train, ` +
    `${pct(sum((c) => c.heldOut) / all, 0)} validation, ${
      pct(sum((c) => c.test) / all, 0)
    } test. ` +
    `The smallest parts: ${fewestVal.heldOut} validation photos (${fewestVal.name}) and ` +
    `${fewestTest.test} test photos (${fewestTest.name}); at that size one photo is ${
      pct(1 / Math.max(1, fewestTest.test))
    } of its breed's test accuracy.`;
}

/** A stage's rounds: where the validation blend and the training loss started and ended (from
 * the round before the stage, when there is one: where the stage took over). */
export function stageReading(history: readonly HistoryRow[], stage: string): string {
  const rows = history.filter((h) => h.stage === stage);
  if (rows.length === 0) return `Stage ${stage} has no rounds yet.`;
  const [first, last] = [rows[0], rows.at(-1)!];
  const rounds = rows.length === 1 ? `round ${first.round}` : `rounds ${first.round}–${last.round}`;
  const heads = `the main head ends at ${pct(last.metrics.main)}, the aux head at ${
    pct(last.metrics.aux)
  }.`;
  const start = history.filter((h) => h.round < first.round).at(-1) ??
    (rows.length > 1 ? first : undefined);
  if (!start) {
    return `Stage ${stage} (${rounds}): the validation blend reached ${
      pct(last.metrics.blend)
    }; ${heads} Its training loss: ${last.metrics.loss.total.toFixed(3)}.`;
  }
  const peak = rows[argBest(rows.map((h) => h.metrics.blend))];
  const change = last.metrics.blend - start.metrics.blend;
  return `Stage ${stage} (${rounds}): the validation blend went from ${pct(start.metrics.blend)}` +
    `${start === first ? "" : ` (the round before)`} to ${pct(last.metrics.blend)} (${
      points(change)
    } points)` +
    (peak !== last && peak.metrics.blend > last.metrics.blend
      ? `, its best ${pct(peak.metrics.blend)} at round ${peak.round}`
      : "") +
    `; ${heads} The training loss went from ${start.metrics.loss.total.toFixed(3)} to ${
      last.metrics.loss.total.toFixed(3)
    }.` +
    (Math.abs(change) < 0.01 ? " A change under a point is within one seed's noise." : "");
}

/** The whole run's losses: training against validation, and where validation was lowest. */
export function lossReading(history: readonly HistoryRow[]): string {
  if (history.length === 0) return "No rounds yet.";
  const [first, last] = [history[0], history.at(-1)!];
  const lowest = history[argBest(history.map((h) => h.metrics.valLoss), false)];
  return `Over ${history.length} rounds the training loss (all three terms, on augmented ` +
    `batches) went from ${first.metrics.loss.total.toFixed(3)} to ${
      last.metrics.loss.total.toFixed(3)
    }, the main head's validation loss from ${first.metrics.valLoss.toFixed(3)} to ${
      last.metrics.valLoss.toFixed(3)
    }, lowest at round ${lowest.round} (${lowest.stage}, ${lowest.metrics.valLoss.toFixed(3)}).`;
}

/** The alpha grid: the best alpha against each head alone, and how flat the top of the curve is. */
export function blendReading(curve: readonly { alpha: number; accuracy: number }[]): string {
  const best = curve[argBest(curve.map((p) => p.accuracy))];
  const aux = curve.find((p) => p.alpha === 0) ?? curve[0];
  const main = curve.find((p) => p.alpha === 1) ?? curve.at(-1)!;
  // The alphas within half a point of the best: how much the choice matters.
  const near = curve.filter((p) => p.accuracy >= best.accuracy - 0.005).map((p) => p.alpha);
  const [low, high] = [Math.min(...near), Math.max(...near)];
  return `Alpha ${best.alpha.toFixed(2)} gives ${pct(best.accuracy)}: ${
    points(best.accuracy - main.accuracy)
  } points against the main head alone (alpha 1, ${pct(main.accuracy)}) and ${
    points(best.accuracy - aux.accuracy)
  } against the aux head alone (alpha 0, ${pct(aux.accuracy)}). Every alpha from ${
    low.toFixed(2)
  } to ${high.toFixed(2)} is within half a point of the best: ` +
    (main.accuracy >= best.accuracy - 0.005
      ? "the main head alone does as well, and the blend adds little here."
      : high - low > 0.3
      ? "the top is flat, and where in it the maximum falls is noise."
      : "the choice matters.");
}

/** Accuracy per breed and the confusion matrix: the best and worst breed, the commonest mistake. */
export function perBreedReading(names: readonly string[], matrix: readonly number[][]): string {
  const accuracy = matrix.map((row, i) => row[i] / Math.max(1, row.reduce((a, b) => a + b, 0)));
  const best = argBest(accuracy);
  const worst = argBest(accuracy, false);
  let pair = { truth: 0, predicted: 0, count: 0 };
  matrix.forEach((row, i) =>
    row.forEach((count, j) => {
      if (i !== j && count > pair.count) pair = { truth: i, predicted: j, count };
    })
  );
  const wrong = matrix.reduce((s, row, i) => s + row.reduce((a, b) => a + b, 0) - row[i], 0);
  return `Best: ${names[best]} (${pct(accuracy[best])}); worst: ${names[worst]} (${
    pct(accuracy[worst])
  }). ` +
    (pair.count === 0
      ? "No mistakes."
      : `The commonest mistake is ${names[pair.truth]} taken for ${
        names[pair.predicted]
      }: ${pair.count} of the ${wrong} wrong photos.`);
}

/** Pseudo-labels by confidence: how many are wrong, above and below a confidence. */
export function confidenceReading(
  bins: readonly { bin: string; photos: number; wrong: number }[],
  edges: readonly number[],
  at = 0.9,
): string {
  const total = bins.reduce((s, b) => s + b.photos, 0);
  const wrong = bins.reduce((s, b) => s + b.wrong, 0);
  const cut = edges.indexOf(at);
  if (cut < 1) throw new RangeError(`${at} is not an inner edge of the bins`);
  const high = bins.slice(cut);
  const low = bins.slice(0, cut);
  const share = (part: typeof bins) => {
    const n = part.reduce((s, b) => s + b.photos, 0);
    const w = part.reduce((s, b) => s + b.wrong, 0);
    return { n, text: n ? pct(w / n) : "none" };
  };
  const [h, l] = [share(high), share(low)];
  return `${wrong} of ${total} pseudo-labels are wrong (${pct(wrong / Math.max(1, total))}). ` +
    `The ${h.n} at ${at} or above are wrong ${h.text} of the time, the ${l.n} below ${at} ` +
    `${l.text}: confidence ranks the mistakes, so a threshold (\`--threshold\`) trades photos ` +
    `for cleaner labels.`;
}

/** Per-breed accuracy before and after a change (the transfer): who gained, who lost. */
export function changeReading(
  names: readonly string[],
  before: readonly number[],
  after: readonly number[],
): string {
  const delta = after.map((a, i) => a - before[i]);
  const up = delta.filter((d) => d > 1e-9).length;
  const down = delta.filter((d) => d < -1e-9).length;
  const gain = argBest(delta);
  const loss = argBest(delta, false);
  return `${up} breeds gained, ${down} lost, ${names.length - up - down} stayed.` +
    (up ? ` Largest gain: ${names[gain]} (${points(delta[gain])} points).` : "") +
    (down ? ` Largest loss: ${names[loss]} (${points(delta[loss])} points).` : "");
}

/** The accuracy-per-minute bench: ours against PyTorch at each budget both ran. */
export function budgetReading(bench: AccuracyBench): string {
  const pairs = bench.ours.map((p, i) => ({ ours: p, torch: bench.torch[i] }))
    .filter((p) => p.torch);
  if (pairs.length === 0) return "No budget has both runs.";
  const lines = pairs.map(({ ours, torch }) =>
    `${ours.what}: ${pct(ours.accuracy)} against ${pct(torch.accuracy)} (${
      points(ours.accuracy - torch.accuracy)
    }${
      torch.plain === undefined
        ? ""
        : `; ${pct(torch.plain)} without its flip, ${points(ours.accuracy - torch.plain)}`
    })`
  );
  const [first, last] = [bench.ours[0], bench.ours.at(-1)!];
  const seeds = bench.seeds ?? [];
  return `${lines.join("; ")}. Ours went from ${pct(first.accuracy)} at ${
    first.minutes.toFixed(1)
  } min to ${pct(last.accuracy)} at ${last.minutes.toFixed(1)} min (${
    signed(100 * (last.accuracy - first.accuracy))
  } points). ${
    seeds.length > 1
      ? `Each point is the mean of ${seeds.length} seeds (${seeds.join(", ")}): differences ` +
        `under about ${(2 / Math.sqrt(seeds.length)).toFixed(1)} points`
      : "One seed per point: differences under about two points"
  } are noise.`;
}
