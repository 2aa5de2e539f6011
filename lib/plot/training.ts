/** Figures of a training run's history: validation accuracy and loss per round, with the stage
 * boundaries marked. */
import type { HistoryRow } from "../run/history.ts";
import { type Figure, lineChart } from "./figure.ts";

function stageMarks(history: readonly HistoryRow[]) {
  return history.flatMap((h, i) =>
    i === 0 || h.stage !== history[i - 1].stage ? [{ x: h.round - 0.5, label: h.stage }] : []
  );
}

export function accuracyCurves(history: readonly HistoryRow[]): Figure {
  const x = history.map((h) => h.round);
  return lineChart([
    { name: "main head", x, y: history.map((h) => h.metrics.main) },
    { name: "aux head", x, y: history.map((h) => h.metrics.aux) },
    { name: "best blend", x, y: history.map((h) => h.metrics.blend) },
  ], {
    title: "Validation accuracy per round",
    xTitle: "round",
    yTitle: "top-1 accuracy",
    marks: stageMarks(history),
    wholeX: true,
  });
}

export function lossCurves(history: readonly HistoryRow[]): Figure {
  const x = history.map((h) => h.round);
  return lineChart([
    { name: "train total", x, y: history.map((h) => h.metrics.loss.total) },
    { name: "train CE (main)", x, y: history.map((h) => h.metrics.loss.main) },
    { name: "train center", x, y: history.map((h) => h.metrics.loss.center) },
    { name: "train CE (aux)", x, y: history.map((h) => h.metrics.loss.aux) },
    { name: "val CE (main)", x, y: history.map((h) => h.metrics.valLoss) },
  ], {
    title: "Loss per round",
    xTitle: "round",
    yTitle: "loss",
    marks: stageMarks(history),
    wholeX: true,
  });
}
