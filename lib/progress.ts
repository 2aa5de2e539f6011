/**
 * A progress line: rate, ETA and any extra metrics (loss, ...). On a TTY it redraws in place; in a
 * log (CI, nohup) it prints a line every 10% so logs stay readable; in a notebook it is one output
 * line updated in place (stderr would pile up a box of lines per phase).
 */
import { escapeHtml, jupyter, show, updateDisplay } from "./display.ts";
import { relativePaths } from "./paths.ts";

/** A line of the library's running commentary, on stderr, its paths relative to the project (a
 * command's default log: short lines a person can copy a path from). */
export function logLine(line: string): void {
  console.error(relativePaths(line));
}

export interface Progress {
  update(done: number, extra?: Record<string, number | string>): void;
  done(extra?: Record<string, number | string>): void;
}

/** A progress line for `total` units; `start` (a `performance.now()` time) when the work began
 * before the bar was made. */
export function progressBar(
  label: string,
  total: number,
  unit = "it",
  start = performance.now(),
): Progress {
  if (jupyter()) return notebookBar(label, total, unit, start);
  const tty = Deno.stderr.isTerminal();
  let lastDecile = -1;
  let last = 0;
  const encoder = new TextEncoder();
  const render = progressLine(label, total, unit, start);
  return {
    update(done, extra) {
      if (tty) {
        const now = performance.now();
        if (now - last < 100 && done < total) return;
        last = now;
        Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${render(done, extra)}`));
        return;
      }
      const decile = Math.floor((10 * done) / Math.max(total, 1));
      if (decile > lastDecile) {
        lastDecile = decile;
        console.error(render(done, extra));
      }
    },
    done(extra) {
      const line = render(total, extra);
      if (tty) Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}\n`));
      else if (lastDecile < 10) console.error(line);
    },
  };
}

/** The line itself: label, bar, count, rate, elapsed<remaining, metrics. */
function progressLine(label: string, total: number, unit: string, start: number) {
  return (done: number, extra: Record<string, number | string> = {}): string => {
    const seconds = (performance.now() - start) / 1000;
    // The first update can come microseconds after the start: no rate until there is one (a
    // finished phase has one, however short).
    const rate = seconds > 0.25 || (done === total && seconds > 0) ? done / seconds : NaN;
    const eta = done === total ? 0 : rate > 0 ? (total - done) / rate : Infinity;
    const width = 24;
    const filled = Math.round((width * done) / Math.max(total, 1));
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const metrics = Object.entries(extra)
      .map(([k, v]) => `${k} ${typeof v === "number" ? formatNumber(v) : v}`)
      .join(" ");
    const timing = Number.isNaN(rate)
      ? formatTime(seconds)
      : `${formatNumber(rate)} ${unit}/s ${formatTime(seconds)}<${formatTime(eta)}`;
    return `${label} ${bar} ${done}/${total} ${timing}${metrics ? " " + metrics : ""}`;
  };
}

let bars = 0;

/** In a notebook: one display per bar, redrawn at most twice a second. Displays go out in order
 * without being awaited (a bar's `update` is synchronous). */
function notebookBar(label: string, total: number, unit: string, start: number): Progress {
  const render = progressLine(label, total, unit, start);
  const id = `progress-${Deno.pid}-${++bars}`;
  const bundle = (line: string) => ({
    "text/plain": line,
    "text/html": `<pre style="margin:0">${escapeHtml(line)}</pre>`,
  });
  let last = 0;
  let shown: Promise<void> | undefined;
  const draw = (line: string) => {
    shown = shown ? shown.then(() => updateDisplay(bundle(line), id)) : show(bundle(line), id);
    shown.catch(() => {});
  };
  return {
    update(done, extra) {
      const now = performance.now();
      if (shown && now - last < 500 && done < total) return;
      last = now;
      draw(render(done, extra));
    },
    done(extra) {
      draw(render(total, extra));
    },
  };
}

/**
 * An accuracy cut (not rounded) to `places` decimals, as the seed's checkpoint names write it
 * (`int(x * 10000)`): every line that shows a checkpoint's number shows the name's digits.
 */
export function truncated(x: number, places = 4): string {
  return (Math.floor(x * 10 ** places + 1e-9) / 10 ** places).toFixed(places);
}

/** An accuracy as a percent of two decimals, cut as `truncated` cuts: 0.77819 is 77.81%. */
export function percent(x: number): string {
  return `${truncated(100 * x, 2)}%`;
}

export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "--";
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

export function formatTime(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const mm = String(m % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
