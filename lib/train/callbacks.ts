/** The callbacks the CLI and the notebooks attach to the training loop. */
import { join } from "node:path";
import { tf } from "../tf.ts";
import type { SeedModel } from "../model/seed_model.ts";
import { formatNumber, type Progress, progressBar } from "../progress.ts";
import { writeTable } from "../data/table.ts";
import { show, updateDisplay } from "../plot/display.ts";
import {
  type CheckpointMeta,
  listCheckpoints,
  type RoundMetrics,
  saveCheckpoint,
} from "./checkpoint.ts";
import type { Callback, RoundInfo } from "./trainer.ts";

/** A progress bar per round (steps/s, loss, ETA), then one summary line of the validation. */
export function progressCallback(): Callback {
  let bar: Progress | undefined;
  let loss = 0;
  return {
    onRoundBegin(info) {
      bar = progressBar(
        `round ${info.round}/${info.totalRounds} ${info.stage.name}`,
        info.stage.stepsPerRound,
        "step",
      );
      loss = 0;
    },
    onStep(_info, s, l) {
      loss = s === 1 ? l.total : 0.9 * loss + 0.1 * l.total;
      bar?.update(s, { loss });
    },
    onRoundEnd(_info, m) {
      bar?.done({ loss });
      console.error(
        `  val main ${formatNumber(m.main)} aux ${formatNumber(m.aux)} blend ${
          formatNumber(m.blend)
        } ` +
          `(alpha ${m.alpha.toFixed(2)}) val loss ${formatNumber(m.valLoss)}`,
      );
    },
  };
}

export interface HistoryRow {
  round: number;
  stage: string;
  step: number;
  seconds: number;
  metrics: RoundMetrics;
}

/** Appends every round's metrics to `metrics.csv` and `metrics.json` in the run folder. */
export function metricsLogCallback(dir: string, history: HistoryRow[]): Callback {
  let started = performance.now();
  return {
    onRoundBegin() {
      started = performance.now();
    },
    async onRoundEnd(info, m) {
      history.push({
        round: info.round,
        stage: info.stage.name,
        step: info.step + info.stage.stepsPerRound,
        seconds: (performance.now() - started) / 1000,
        metrics: m,
      });
      await writeHistory(dir, history);
    },
  };
}

export async function writeHistory(dir: string, history: HistoryRow[]): Promise<void> {
  await Deno.writeTextFile(join(dir, "metrics.json"), JSON.stringify(history, null, 1));
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

/** Saves a checkpoint each round; keeps the weights of the latest and of the best (by blended
 * accuracy) and deletes the others' folders, so an Xception run does not fill the disk. */
export function checkpointCallback(
  dir: string,
  model: SeedModel,
  startedAt: () => number,
): Callback {
  return {
    async onRoundEnd(info: RoundInfo, metrics: RoundMetrics, optimizer: tf.Optimizer) {
      const meta: CheckpointMeta = {
        round: info.round,
        stage: info.stage.name,
        step: info.step + info.stage.stepsPerRound,
        metrics,
        seconds: (performance.now() - startedAt()) / 1000,
        savedAt: new Date().toISOString(),
      };
      await saveCheckpoint(dir, model, optimizer, meta);
      const all = await listCheckpoints(dir);
      const best = bestOf(all);
      for (const c of all) {
        if (c.meta.round !== info.round && c.path !== best?.path) {
          await Deno.remove(c.path, { recursive: true });
        }
      }
    },
  };
}

/** The checkpoint with the best blended validation accuracy (the earliest on ties). */
export function bestOf<T extends { meta: CheckpointMeta }>(checkpoints: T[]): T | undefined {
  return checkpoints.reduce<T | undefined>(
    (best, c) => (!best || c.meta.metrics.blend > best.meta.metrics.blend ? c : best),
    undefined,
  );
}

/** A live progress line in a notebook: one display per run, updated in place as steps go by. */
export function notebookProgressCallback(every = 5): Callback {
  const id = `train-progress-${Date.now().toString(36)}`;
  let shown = false;
  let started = performance.now();
  let loss = 0;
  const lines: string[] = [];
  const render = (current: string) => ({
    "text/html": `<pre style="margin:0">${[...lines, current].join("\n")}</pre>`,
    "text/plain": [...lines, current].join("\n"),
  });
  return {
    async onRoundBegin(info) {
      started = performance.now();
      const bundle = render(`round ${info.round}/${info.totalRounds} ${info.stage.name}: starting`);
      if (!shown) await show(bundle, id);
      else await updateDisplay(bundle, id);
      shown = true;
    },
    async onStep(info, s, l) {
      loss = s === 1 ? l.total : 0.9 * loss + 0.1 * l.total;
      if (s % every !== 0 && s !== info.stage.stepsPerRound) return;
      const rate = s / ((performance.now() - started) / 1000);
      const eta = (info.stage.stepsPerRound - s) / Math.max(rate, 1e-9);
      await updateDisplay(
        render(
          `round ${info.round}/${info.totalRounds} ${info.stage.name}: step ${s}/${info.stage.stepsPerRound} ` +
            `${formatNumber(rate)} step/s, loss ${formatNumber(loss)}, ETA ${Math.round(eta)} s`,
        ),
        id,
      );
    },
    async onRoundEnd(info, m) {
      lines.push(
        `round ${info.round}/${info.totalRounds} ${info.stage.name}: loss ${
          formatNumber(m.loss.total)
        } | val main ` +
          `${m.main.toFixed(3)} aux ${m.aux.toFixed(3)} blend ${m.blend.toFixed(3)} (alpha ${
            m.alpha.toFixed(2)
          })`,
      );
      await updateDisplay(render(""), id);
    },
  };
}
