/**
 * A run's metrics log: one row per round, in `metrics.json` (read back on resume) and
 * `metrics.csv` (for a spreadsheet).
 */
import { join } from "node:path";
import { writeTable } from "../data/table.ts";
import type { RoundMetrics } from "./checkpoint.ts";
import { writeTextAtomic } from "../files.ts";

export interface HistoryRow {
  round: number;
  stage: string;
  step: number;
  seconds: number;
  metrics: RoundMetrics;
}

/** The rows of `metrics.json` up to `round` (all of them by default); none when it is missing. */
export async function readHistory(dir: string, round = Infinity): Promise<HistoryRow[]> {
  const text = await Deno.readTextFile(join(dir, "metrics.json")).catch(() => "[]");
  return (JSON.parse(text) as HistoryRow[]).filter((h) => h.round <= round);
}

export async function writeHistory(dir: string, history: HistoryRow[]): Promise<void> {
  await writeTextAtomic(join(dir, "metrics.json"), JSON.stringify(history, null, 1));
  await writeTable(
    join(dir, "metrics.csv"),
    history.map((h) => ({
      round: h.round,
      stage: h.stage,
      step: h.step,
      seconds: h.seconds.toFixed(1),
      main: h.metrics.main.toFixed(4),
      aux: h.metrics.aux.toFixed(4),
      blend: h.metrics.blend.toFixed(4),
      alpha: h.metrics.alpha.toFixed(2),
      val_loss: h.metrics.valLoss.toFixed(4),
      loss: h.metrics.loss.total.toFixed(4),
      loss_main: h.metrics.loss.main.toFixed(4),
      loss_center: h.metrics.loss.center.toFixed(4),
      loss_aux: h.metrics.loss.aux.toFixed(4),
    })),
    {
      columns: [
        "round",
        "stage",
        "step",
        "seconds",
        "main",
        "aux",
        "blend",
        "alpha",
        "val_loss",
        "loss",
        "loss_main",
        "loss_center",
        "loss_aux",
      ],
    },
  );
}
