/**
 * `deno task render`: executes every notebook top to bottom in a fresh Deno kernel, on the whole
 * dataset as a reader runs it (the small slice with `--small`), and writes each as a page a reader
 * opens without running anything: `notebooks/rendered/<name>.html`, the Plotly library once beside
 * them. A page that differs from the one on disk only in rates and elapsed times is left as it is.
 */
import { basename, join } from "node:path";
import { parseCli } from "./run_args.ts";
import { runMain, say } from "./main.ts";
import { fromRoot } from "../paths.ts";
import { UsageError } from "../errors.ts";
import { endKernelsOf, type Notebook, renderPage, writePage, writePlotly } from "../plot/render.ts";

const HELP = `Usage: deno task render [options] [NAME...]

  --out DIR    where the pages go (default notebooks/rendered)
  --small      run on the small slice CI runs (DOGS_SMALL=1; default: the whole dataset, as a
               reader runs it, about 4 minutes on 2 cores)
  NAME         notebooks to render, e.g. 03_fine_tuning (default: all, in order; 04-06
               continue 03's run, so render them with it)

The notebooks' runs go to data/runs/rendered (DOGS_RUNS), emptied first, so nothing of yours is
reused or changed; decoded photos go to the usual cache.`;

await runMain(async () => {
  const { values, positionals: names } = parseCli(HELP, {
    out: { type: "string" },
    small: { type: "boolean" },
  });
  const out = values.out ?? fromRoot("notebooks", "rendered");
  const all = (await Array.fromAsync(Deno.readDir(fromRoot("notebooks"))))
    .map((e) => e.name).filter((n) => n.endsWith(".ipynb")).sort();
  const chosen = names.length
    ? names.map((n) => {
      const file = all.find((a) => a === n || a === `${n}.ipynb`);
      if (!file) throw new UsageError(`no notebook ${n} (there are ${all.join(", ")})`);
      return file;
    })
    : all;
  await Deno.mkdir(out, { recursive: true });
  await writePlotly(out);
  // The runs live in the project (so outputs show project paths, as a reader's do), fresh each time;
  // the kernels' connection files and nbconvert's output in a folder of their own.
  const runs = fromRoot("data", "runs", "rendered");
  await Deno.remove(runs, { recursive: true }).catch(() => {});
  await Deno.mkdir(runs, { recursive: true });
  const work = await Deno.makeTempDir({ prefix: "render-" });
  try {
    for (const file of chosen) {
      const started = performance.now();
      const executed = await execute(
        join(fromRoot("notebooks"), file),
        runs,
        work,
        values.small === true,
      );
      const html = await renderPage(executed, file.replace(/\.ipynb$/, ""));
      const target = join(out, file.replace(/\.ipynb$/, ".html"));
      const written = await writePage(target, html);
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      say(
        `${target}: ${(html.length / 1e6).toFixed(2)} MB (${seconds} s)` +
          (written ? "" : ", unchanged but for timings: kept"),
      );
    }
  } finally {
    await endKernelsOf(join(work, "runtime"));
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});

/** The notebook executed by nbconvert in a fresh kernel, its outputs in place. */
async function execute(
  path: string,
  runs: string,
  work: string,
  small: boolean,
): Promise<Notebook> {
  const env: Record<string, string> = {
    DOGS_RUNS: runs,
    JUPYTER_RUNTIME_DIR: join(work, "runtime"),
  };
  if (small) env.DOGS_SMALL = "1";
  const run = await new Deno.Command("jupyter", {
    args: [
      "nbconvert",
      "--to",
      "notebook",
      "--execute",
      "--ExecutePreprocessor.timeout=3600",
      "--output-dir",
      work,
      path,
    ],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!run.success) {
    const log = new TextDecoder().decode(run.stderr).trim().split("\n").slice(-15).join("\n");
    throw new Error(`${basename(path)} did not execute:\n${log}`);
  }
  return JSON.parse(await Deno.readTextFile(join(work, basename(path))));
}
