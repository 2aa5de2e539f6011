/**
 * A run's metrics log: one row per round, in `metrics.json` (read back on resume) and
 * `metrics.csv` (for a spreadsheet).
 */
import { truncated } from "../progress.ts";
import { writeTable } from "../data/table.ts";
import type { RoundMetrics } from "./checkpoint.ts";
import { writeTextAtomic } from "../files.ts";
import { DataError } from "../errors.ts";
import { runFiles } from "../layout.ts";

export interface HistoryRow {
  round: number;
  stage: string;
  step: number;
  seconds: number;
  metrics: RoundMetrics;
}

/** The rows of `metrics.json` up to `round` (all of them by default); none when it is missing. */
export async function readHistory(dir: string, round = Infinity): Promise<HistoryRow[]> {
  const file = runFiles(dir).history;
  const text = await Deno.readTextFile(file).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return "[]";
    throw error;
  });
  let rows: HistoryRow[];
  try {
    rows = JSON.parse(text);
  } catch (error) {
    throw damaged(file, (error as Error).message);
  }
  const sound = Array.isArray(rows) &&
    rows.every((h) =>
      Number.isInteger(h?.round) && typeof h.stage === "string" &&
      typeof h.metrics?.blend === "number" && typeof h.metrics?.loss?.total === "number"
    );
  if (!sound) throw damaged(file, "rows without their round, stage or metrics");
  return rows.filter((h) => h.round <= round);
}

function damaged(file: string, why: string): DataError {
  return new DataError(
    file,
    `damaged (${why}): restore it, or remove it to resume without the rows of earlier rounds ` +
      "(the checkpoints keep the weights and their own metrics)",
  );
}

export async function writeHistory(dir: string, history: HistoryRow[]): Promise<void> {
  await writeTextAtomic(runFiles(dir).history, JSON.stringify(history, null, 1));
  await writeTable(
    runFiles(dir).historyTable,
    history.map((h) => ({
      round: h.round,
      stage: h.stage,
      step: h.step,
      seconds: h.seconds.toFixed(1),
      main: truncated(h.metrics.main),
      aux: truncated(h.metrics.aux),
      blend: truncated(h.metrics.blend),
      alpha: h.metrics.alpha.toFixed(2),
      val_loss: h.metrics.valLoss.toFixed(4),
      loss: h.metrics.loss.total.toFixed(4),
      loss_main: h.metrics.loss.main.toFixed(4),
      loss_center: h.metrics.loss.center.toFixed(4),
      loss_aux: h.metrics.loss.aux.toFixed(4),
      // With --ema: which weights the round kept, and the raw weights' and the average's blends.
      kept: h.metrics.ema?.kept ?? "",
      raw_blend: h.metrics.ema ? truncated(h.metrics.ema.raw.blend) : "",
      average_blend: h.metrics.ema ? truncated(h.metrics.ema.average.blend) : "",
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
        "kept",
        "raw_blend",
        "average_blend",
      ],
    },
  );
}
