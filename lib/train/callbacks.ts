/** The callbacks the CLI and the notebooks attach to the training loop. */
import { tf } from "../engine/tf.ts";
import type { SeedModel } from "../model/seed_model.ts";
import { formatNumber, type Progress, progressBar } from "../progress.ts";
import { show, updateDisplay } from "../display.ts";
import {
  bestOf,
  type CheckpointMeta,
  listCheckpoints,
  type RoundMetrics,
  saveCheckpoint,
} from "../run/checkpoint.ts";
import { type HistoryRow, writeHistory } from "../run/history.ts";
import type { Callback, RoundInfo } from "./round.ts";
import type { WeightAverage } from "./ema.ts";

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
    onRoundEnd(info, m) {
      bar?.done({ loss });
      console.error(
        `  ${valLabel(info)} main ${formatNumber(m.main)} aux ${formatNumber(m.aux)} blend ${
          formatNumber(m.blend)
        } ` +
          `(alpha ${m.alpha.toFixed(2)}) val loss ${formatNumber(m.valLoss)}` +
          (m.ema
            ? ` [${m.ema.kept} kept: blend of the average ${formatNumber(m.ema.average.blend)}, ` +
              `raw ${formatNumber(m.ema.raw.blend)}]`
            : ""),
      );
    },
  };
}

/** What the validation scores are: held-out, or (the transfer) on photos the run trains on. */
function valLabel(info: RoundInfo): string {
  return info.valTrained ? "val (photos it trains on)" : "val";
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

/** Saves a checkpoint each round; keeps the weights of the latest and of the best (by blended
 * accuracy) and deletes the others' folders, so an Xception run does not fill the disk. */
export function checkpointCallback(
  dir: string,
  model: SeedModel,
  startedAt: () => number,
): Callback {
  return {
    async onRoundEnd(
      info: RoundInfo,
      metrics: RoundMetrics,
      optimizer: tf.Optimizer,
      average?: WeightAverage,
    ) {
      const meta: CheckpointMeta = {
        round: info.round,
        stage: info.stage.name,
        step: info.step + info.stage.stepsPerRound,
        metrics,
        seconds: (performance.now() - startedAt()) / 1000,
        savedAt: new Date().toISOString(),
        ...(metrics.ema?.kept === "average" ? { averaged: true } : {}),
      };
      await saveCheckpoint(dir, model, optimizer, meta, average);
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

let displays = 0;

/** Live progress in a notebook: one display per stage (so each stage's cell shows its own
 * rounds), updated in place as steps go by, then one line per finished round. */
export function notebookProgressCallback(every = 5): Callback {
  let id = "";
  let stage = -1;
  let started = performance.now();
  let loss = 0;
  let lines: string[] = [];
  const render = (current: string) => ({
    "text/html": `<pre style="margin:0">${[...lines, current].join("\n")}</pre>`,
    "text/plain": [...lines, current].join("\n"),
  });
  const name = (info: RoundInfo) => `round ${info.round}/${info.totalRounds} ${info.stage.name}`;
  return {
    async onRoundBegin(info) {
      started = performance.now();
      const bundle = () => render(`${name(info)}: starting`);
      if (info.stageIndex !== stage) {
        stage = info.stageIndex;
        id = `train-progress-${Deno.pid}-${++displays}`;
        lines = [];
        await show(bundle(), id);
      } else await updateDisplay(bundle(), id);
    },
    async onStep(info, s, l) {
      loss = s === 1 ? l.total : 0.9 * loss + 0.1 * l.total;
      if (s % every !== 0 && s !== info.stage.stepsPerRound) return;
      const rate = s / ((performance.now() - started) / 1000);
      const eta = (info.stage.stepsPerRound - s) / Math.max(rate, 1e-9);
      await updateDisplay(
        render(
          `${name(info)}: step ${s}/${info.stage.stepsPerRound} ` +
            `${formatNumber(rate)} step/s, loss ${formatNumber(loss)}, ETA ${Math.round(eta)} s`,
        ),
        id,
      );
    },
    async onRoundEnd(info, m) {
      lines.push(
        `${name(info)}: loss ${formatNumber(m.loss.total)} | ${valLabel(info)} ` +
          `main ${m.main.toFixed(3)} ` +
          `aux ${m.aux.toFixed(3)} blend ${m.blend.toFixed(3)} (alpha ${m.alpha.toFixed(2)})`,
      );
      await updateDisplay(render(""), id);
    },
  };
}
