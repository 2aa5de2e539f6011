/**
 * Executed notebooks as pages a reader opens without running anything. A notebook's first figure
 * carries the whole Plotly bundle (see figure.ts); a page drops it and loads the library from
 * `plotly-loader.js` beside the pages, once for all of them. Cells and
 * outputs are laid out by nbconvert's `basic` template (no CDN scripts, no machine paths) inside a
 * small page of our own, so each page weighs what its outputs weigh.
 */
import { join } from "node:path";
import { DataError } from "../errors.ts";
import { plotlyLoaderScript } from "./figure.ts";
import { escapeHtml } from "../display.ts";

/** The file beside the pages that defines `window.Plotly` (the loader figures carry, once). */
export const PLOTLY_FILE = "plotly-loader.js";

/** The loader figure.ts puts before every figure (one `<script>`, up to its end tag). */
const BUNDLE =
  /<script>\(async\(\)=>\{if\(window\.Plotly\|\|window\.__plotlyLoading\)return;[^]*?<\/script>/g;

interface Output {
  output_type: string;
  data?: Record<string, string | string[]>;
  [key: string]: unknown;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
  [key: string]: unknown;
}
export interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
  [key: string]: unknown;
}

/** The notebook with every embedded Plotly bundle removed from its HTML outputs. */
export function withoutPlotlyBundles(notebook: Notebook): Notebook {
  const text = (v: string | string[]) => (Array.isArray(v) ? v.join("") : v);
  return {
    ...notebook,
    cells: notebook.cells.map((cell) => ({
      ...cell,
      ...(cell.outputs
        ? {
          outputs: cell.outputs.map((o) =>
            o.data?.["text/html"]
              ? {
                ...o,
                data: { ...o.data, "text/html": text(o.data["text/html"]).replace(BUNDLE, "") },
              }
              : o
          ),
        }
        : {}),
    })),
  };
}

/** The page of an executed notebook: its cells by nbconvert (`basic`), in our own frame. */
export async function renderPage(notebook: Notebook, title: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "render-" });
  try {
    const input = join(dir, "notebook.ipynb");
    await Deno.writeTextFile(input, JSON.stringify(withoutPlotlyBundles(notebook)));
    const run = await new Deno.Command("jupyter", {
      args: ["nbconvert", "--to", "html", "--template", "basic", "--output-dir", dir, input],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!run.success) {
      const why = new TextDecoder().decode(run.stderr).trim().split("\n").at(-1);
      throw new DataError(title, `nbconvert could not render it: ${why}`);
    }
    const body = await Deno.readTextFile(join(dir, "notebook.html"));
    return page(title, body);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A page with what depends on the moment it ran masked out: rates and elapsed times (`12.3 it/s`,
 * `00:01<00:00`, `in 2.0 s`). Two renders of the same notebooks that differ only there are the
 * same page, so `deno task render` keeps the one on disk and the tree stays clean.
 */
export function withoutTimings(html: string): string {
  return html
    .replace(/\d[\d.,]*\s?(it|step|photo|batch)s?\/s/g, "# /s")
    .replace(/\d\d:\d\d(&lt;|<)\d\d:\d\d/g, "#")
    .replace(/\bin \d[\d.,]* s\b/g, "in # s");
}

/** Writes `html` to `path` unless the page there differs from it only in timings; whether it
 * wrote. */
export async function writePage(path: string, html: string): Promise<boolean> {
  const old = await Deno.readTextFile(path).catch(() => undefined);
  if (old !== undefined && withoutTimings(old) === withoutTimings(html)) return false;
  await Deno.writeTextFile(path, html);
  return true;
}

/** Writes the Plotly loader beside the pages (2.5 MB, once for all of them). */
export async function writePlotly(dir: string): Promise<string> {
  const target = join(dir, PLOTLY_FILE);
  await Deno.writeTextFile(target, plotlyLoaderScript() + "\n");
  return target;
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<script src="${PLOTLY_FILE}"></script>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
.input_prompt, .output_prompt, .prompt { display: none; }
.input { margin: 1em 0 0.3em; }
.input .highlight pre, pre { background: #f6f8fa; border: 1px solid #e3e6ea; border-radius: 4px;
  padding: 0.6em 0.8em; overflow-x: auto; font: 12.5px/1.45 ui-monospace, monospace; }
.output_area pre { background: none; border: none; padding: 0.2em 0; }
.output_stderr pre { color: #8a5a00; }
.output_area { margin: 0.2em 0 0.8em; overflow-x: auto; }
.output_html table { border-collapse: collapse; font-size: 13px; }
.output_html th, .output_html td { border: 1px solid #ddd; padding: 2px 8px; text-align: right; }
.text_cell_render h1 { font-size: 1.7em; } .text_cell_render h2 { font-size: 1.3em; margin-top: 1.6em; }
.anchor-link { display: none; }
code { background: #f3f3f3; padding: 0 3px; border-radius: 3px; }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}

/**
 * Ends the kernels whose connection files live in `runtimeDir` (a kernel can outlive nbconvert),
 * and no others: a user's own notebook kernels on the same machine stay alive.
 */
export async function endKernelsOf(runtimeDir: string): Promise<number[]> {
  const out = await new Deno.Command("pgrep", { args: ["-f", runtimeDir], stdout: "piped" })
    .output();
  const pids = new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).map(Number)
    .filter((pid) => pid !== Deno.pid);
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  return pids;
}
