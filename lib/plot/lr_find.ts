/** The learning-rate finder's curve: loss against rate on a log axis, the suggestion marked. */
import { type Figure, lineChart } from "./figure.ts";

/** What the finder found (lib/train/lr_find.ts's result). */
export interface LrSweep {
  rates: readonly number[];
  losses: readonly number[];
  smoothed: readonly number[];
  suggestion: number;
}

export function lrFinderCurve(result: LrSweep, stage: string): Figure {
  // The step nearest the suggestion (it is one of the sweep's rates).
  const distance = (r: number) => Math.abs(Math.log(r / result.suggestion));
  const at = result.rates.reduce(
    (best, r, i) => distance(r) < distance(result.rates[best]) ? i : best,
    0,
  );
  const figure = lineChart([
    { name: "loss", x: result.rates, y: result.losses },
    { name: "smoothed", x: result.rates, y: result.smoothed },
    { name: "suggestion", x: [result.suggestion], y: [result.smoothed[at]] },
  ], {
    title: `Learning-rate finder, ${stage}: suggestion ${result.suggestion.toPrecision(2)}`,
    xTitle: "learning rate (log scale)",
    yTitle: "training loss",
  });
  const suggestion = (figure.data as Record<string, unknown>[])[2];
  suggestion.mode = "markers";
  suggestion.marker = { size: 14, symbol: "star" };
  const layout = figure.layout as {
    xaxis: Record<string, unknown>;
    yaxis: Record<string, unknown>;
  };
  layout.xaxis.type = "log";
  // On a log axis Plotly's range is in powers of ten too.
  layout.xaxis.range = [Math.log10(result.rates[0]), Math.log10(result.rates.at(-1)!)];
  // The blow-up at the end would flatten the part that matters.
  const low = Math.min(...result.losses);
  layout.yaxis.range = [low * 0.95, Math.min(Math.max(...result.smoothed), 4 * low) * 1.05];
  return figure;
}
