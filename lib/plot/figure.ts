/**
 * Plotly figures for notebooks and CLI runs, fully offline: the `plotly.js-dist` bundle (2.5 MB)
 * rides along with the first chart a kernel shows, and every later chart waits for it, so an
 * executed notebook carries it once; `loadPlotly()` shows it again for a page that lost it (that
 * chart's output cleared). A standalone HTML file carries its own.
 */
import { createRequire } from "node:module";
import { hashString } from "../rng.ts";
import { gzipSync } from "node:zlib";
import { encodeBase64 } from "./base64.ts";
import { writeFileAtomic } from "../files.ts";
import { escapeHtml, show } from "../display.ts";

/** A Plotly figure: traces, layout, config, exactly as `Plotly.newPlot` takes them. */
export interface Figure {
  data: Record<string, unknown>[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

let loader: string | undefined;

/**
 * JavaScript that defines `window.Plotly` from the `plotly.js-dist` bundle carried inside it,
 * gzipped and base64-encoded: 10 MB of source would exceed what the Jupyter kernel delivers in
 * one output (~4 MB here), compressed it is 2.5 MB. The browser inflates it with the standard
 * `DecompressionStream`; `define`/`module`/`exports` are hidden so that the bundle's UMD wrapper
 * sets the global even where require.js is loaded (classic Notebook). Rendered pages load it once
 * from a file (render.ts).
 */
export function plotlyLoaderScript(): string {
  if (loader === undefined) {
    const path = createRequire(import.meta.url).resolve("plotly.js-dist");
    const packed = encodeBase64(gzipSync(Deno.readFileSync(path), { level: 9 }));
    loader =
      `(async()=>{if(window.Plotly||window.__plotlyLoading)return;window.__plotlyLoading=1;` +
      `const b=Uint8Array.from(atob("${packed}"),c=>c.charCodeAt(0));` +
      `const t=await new Response(new Blob([b]).stream().pipeThrough(new DecompressionStream("gzip"))).text();` +
      `const s=document.createElement("script");` +
      `s.textContent="(function(define,module,exports){"+t+"\\n}).call(window);";` +
      `document.head.appendChild(s);})();`;
  }
  return loader;
}

/** The loader as a `<script>` element, for an output that must render on its own. */
export function plotlyLoader(): string {
  return `<script>${plotlyLoaderScript()}</script>`;
}

/**
 * A `<div>` plus the script that draws the figure into it; with `withBundle` the plotly loader
 * comes first, else the script waits for a `window.Plotly` defined by an earlier output, and says
 * in the chart's box how to load it if none comes. `serial` tells apart two outputs of one figure
 * (three stage cells drawing the same finished run, one cell run twice): ids name content and
 * serial, so a fresh kernel running the same cells writes the same file.
 */
export function figureHtml(figure: Figure, withBundle: boolean, serial = 0): string {
  const layout: Record<string, unknown> = {
    margin: { t: 40, r: 20, b: 50, l: 60 },
    ...figure.layout,
  };
  // Long tick labels (breed names, rotated) get the room they need instead of being clipped,
  // and axis titles keep their distance from them.
  for (const axis of ["xaxis", "yaxis"]) {
    const given = (layout[axis] ?? {}) as Record<string, unknown>;
    const title = (given.title ?? {}) as Record<string, unknown>;
    layout[axis] = { automargin: true, ...given, title: { standoff: 12, ...title } };
  }
  const config = { responsive: true, displaylogo: false, ...figure.config };
  // No `<` inside the script's JSON (`</script>` or `<!--` would end or bend the element).
  const json = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c");
  const id = `plot-${hashString(json([figure.data, layout, config])).toString(36)}-${serial}`;
  const height = typeof layout.height === "number" ? layout.height : 420;
  // The script finds its own box (the element before it) where the page runs it in place, so that
  // even two notebooks' outputs in one document (JupyterLab's tabs) keep apart; by id where a
  // front end runs it elsewhere (jQuery's evaluation in the classic Notebook).
  const draw = `(function(){const s=document.currentScript,p=s&&s.previousElementSibling;` +
    `const box=p&&p.id===${json(id)}?p:document.getElementById(${json(id)});let t=0;` +
    `(function draw(){if(!window.Plotly){if(++t===300)box.textContent=${json(MISSING)};` +
    `return setTimeout(draw,30);}box.textContent="";` +
    `window.Plotly.newPlot(box,${json(asText(figure.data))},${json(asText(layout))},` +
    `${json(config)});})();})();`;
  return `${
    withBundle ? plotlyLoader() : ""
  }<div id="${id}" style="width:100%;height:${height}px"></div>` +
    `<script>${draw}</script>`;
}

/** What a chart's box says when no Plotly came within ~9 s (the output that carried it cleared). */
const MISSING = "This chart waits for Plotly, which comes with the first chart this notebook's " +
  "kernel showed. Run `await loadPlotly()` in any cell to load it again (or Restart & Run All).";

/**
 * Every string of a figure as plain text. Plotly reads a small HTML in its labels (`<b>`, `<br>`,
 * `<a href>`, entities): a class folder named `<b>x</b>` would show as a bold x, and a tag Plotly
 * does not know would vanish. Escaped as entities, which Plotly turns back into characters, every
 * label, name and title shows exactly as the dataset spells it.
 */
function asText<T>(value: T): T {
  if (typeof value === "string") {
    // Only the entities Plotly knows (it has no `&quot;`).
    return value.replace(/[<&>]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" })[c]!) as T;
  }
  if (Array.isArray(value)) return value.map(asText) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asText(v)])) as T;
  }
  return value;
}

/**
 * Shows a figure in a notebook (await it), with the plotly loader.
 *
 * @example
 * ```ts
 * await showFigure(barChart(["beagle", "dingo"], [12, 7], { title: "photos per breed" }));
 * ```
 */
export async function showFigure(figure: Figure): Promise<void> {
  const html = figureHtml(figure, shown === 0, ++shown);
  const title = (figure.layout?.title as { text?: string } | undefined)?.text;
  await show({ "text/html": html, "text/plain": `[figure${title ? `: ${title}` : ""}]` });
}

/** Charts this kernel has shown: the first carries Plotly. */
let shown = 0;

/** Shows the Plotly loader alone, for a notebook page whose first chart's output was cleared. */
export async function loadPlotly(): Promise<void> {
  await show({ "text/html": plotlyLoader(), "text/plain": "[Plotly, for this page's charts]" });
}

/** Writes a standalone HTML page with the figure (for CLI runs and reports). */
export async function writeFigure(figure: Figure, path: string, title = "figure"): Promise<void> {
  const html =
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${
      escapeHtml(title)
    }</title></head>` +
    `<body>${figureHtml(figure, true)}</body></html>\n`;
  await writeFileAtomic(path, new TextEncoder().encode(html));
}

// ---- the charts the notebooks use ----

export function barChart(
  labels: readonly string[],
  values: readonly number[],
  { title = "", xTitle = "", yTitle = "", errors = undefined as readonly number[] | undefined } =
    {},
): Figure {
  return {
    data: [{
      type: "bar",
      x: labels,
      y: values,
      text: values.map(String),
      textposition: "auto",
      // Error bars (e.g. a standard deviation over seeds), each bar's own.
      ...(errors ? { error_y: { type: "data", array: errors, visible: true } } : {}),
    }],
    layout: {
      title: { text: title },
      xaxis: { title: { text: xTitle } },
      yaxis: { title: { text: yTitle } },
    },
  };
}

/** Points in groups (e.g. breeds), each group one colour; `marks` are drawn on top as labelled
 * crosses (e.g. class centers). */
export function scatterChart(
  groups: readonly { name: string; x: readonly number[]; y: readonly number[] }[],
  {
    title = "",
    xTitle = "",
    yTitle = "",
    marks = undefined as { name: string; x: readonly number[]; y: readonly number[] } | undefined,
  } = {},
): Figure {
  return {
    data: [
      ...groups.map((g) => ({
        type: "scatter",
        mode: "markers",
        name: g.name,
        x: g.x,
        y: g.y,
        marker: { size: 5, opacity: 0.7 },
      })),
      ...(marks
        ? [{
          type: "scatter",
          mode: "markers",
          name: marks.name,
          x: marks.x,
          y: marks.y,
          marker: { size: 14, symbol: "x", color: "black" },
        }]
        : []),
    ],
    layout: {
      title: { text: title },
      xaxis: { title: { text: xTitle } },
      yaxis: { title: { text: yTitle } },
    },
  };
}

export interface Series {
  name: string;
  x: readonly number[];
  y: readonly number[];
}

/** Line chart; `marks` draws labelled vertical lines (e.g. stage boundaries); `wholeX` ticks the
 * x axis at whole numbers only (rounds). */
export function lineChart(
  series: readonly Series[],
  {
    title = "",
    xTitle = "",
    yTitle = "",
    marks = [] as { x: number; label: string }[],
    wholeX = false,
  } = {},
): Figure {
  return {
    data: series.map((s) => ({
      type: "scatter",
      mode: "lines+markers",
      name: s.name,
      x: s.x,
      y: s.y,
    })),
    layout: {
      title: { text: title },
      xaxis: { title: { text: xTitle }, ...(wholeX ? { tick0: 0, dtick: 1 } : {}) },
      yaxis: { title: { text: yTitle } },
      shapes: marks.map((m) => ({
        type: "line",
        x0: m.x,
        x1: m.x,
        yref: "paper",
        y0: 0,
        y1: 1,
        line: { dash: "dot", color: "#888" },
      })),
      annotations: marks.map((m) => ({
        x: m.x,
        yref: "paper",
        y: 1.04,
        text: m.label,
        showarrow: false,
      })),
    },
  };
}

/**
 * Heatmap, e.g. a confusion matrix (rows = true class, columns = predicted). Every cell shows its
 * count; zero is white. `rows: "normalised"` colours each row by its share (a rare breed's
 * mistakes stay visible next to a common one's), still printing the counts.
 */
export function heatmap(
  z: readonly (readonly number[])[],
  rowLabels: readonly string[],
  columnLabels: readonly string[],
  { title = "", xTitle = "", yTitle = "", rows = "counts" as "counts" | "normalised" } = {},
): Figure {
  const colour = rows === "normalised"
    ? z.map((row) => {
      const total = row.reduce((a, b) => a + b, 0);
      return row.map((v) => (total ? v / total : 0));
    })
    : z;
  return {
    data: [{
      type: "heatmap",
      z: colour,
      text: z.map((row) => row.map(String)),
      texttemplate: "%{text}",
      x: columnLabels,
      y: rowLabels,
      colorscale: [[0, "#ffffff"], [0.5, "#6baed6"], [1, "#08306b"]],
      zmin: 0,
      colorbar: { title: { text: rows === "normalised" ? "share of the row" : "photos" } },
      hoverongaps: false,
    }],
    layout: {
      title: { text: title },
      xaxis: { title: { text: xTitle } },
      yaxis: { title: { text: yTitle }, autorange: "reversed" },
      height: 520,
    },
  };
}

/** Stacked bars, one trace per series (e.g. train / val / test photos per class); with
 * `mode: "group"` side by side (before / after). */
export function stackedBars(
  labels: readonly string[],
  series: readonly { name: string; values: readonly number[] }[],
  { title = "", xTitle = "", yTitle = "", mode = "stack" as "stack" | "group" } = {},
): Figure {
  return {
    data: series.map((s) => ({ type: "bar", name: s.name, x: labels, y: s.values })),
    layout: {
      barmode: mode,
      title: { text: title },
      xaxis: { title: { text: xTitle } },
      yaxis: { title: { text: yTitle } },
    },
  };
}
